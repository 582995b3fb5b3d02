"""A faithful reproduction of Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style" (2015).

The pipeline, one module each: Caffe files (`caffe`) -> ONNX (`onnx_export`) -> torch
(`convert`, `network`) -> images and losses (`image`, `losses`) -> L-BFGS-B (`optimise`)
-> figures (`figures`).
"""

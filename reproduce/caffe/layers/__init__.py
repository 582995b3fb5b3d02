"""The Caffe layer types the converter knows, one module each, registered in LAYER_TYPES
(reproduce.caffe.layers.registry): a new type is one module imported below, and its test."""
from reproduce.caffe.layers import convolution, dropout, inner_product, pooling, relu, softmax
from reproduce.caffe.layers.registry import LAYER_TYPES, LayerType, Reading, onnx_ops, register

__all__ = ["LAYER_TYPES", "LayerType", "Reading", "onnx_ops", "register",
           "convolution", "dropout", "inner_product", "pooling", "relu", "softmax"]

"""The caffe stage."""

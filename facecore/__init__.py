"""Face detection and face preprocessing shared by the trainer and the service.

This package depends on OpenCV, Pillow and NumPy only: never on TensorFlow.
"""

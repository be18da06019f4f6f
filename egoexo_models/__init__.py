"""egoexo models: clip I/O, metrics, the mask predictor, the video diffusion and the pipeline.

The ROS-free core. It never imports rclpy or training/.
"""

__version__ = "0.1.0"

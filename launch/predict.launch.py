"""Launch the egoexo mask node and video node (ROS 2 installs: `ros2 launch egoexo_ros predict.launch.py`).

    ros2 launch egoexo_ros predict.launch.py exo_topic:=/cam_third/image_raw ego_topic:=/head/image_raw \
        backend:=onnxruntime device:=cuda steps:=10

Every parameter default lives in config/predict.yaml (params_file). The launch arguments for the
main parameters are empty by default and then leave the file's value alone; a value given here
overrides it. Topics are remapped here; the nodes use relative names under `namespace`. The Fast
DDS profile for large images is set for both nodes. Machines without `ros2 launch` run the same
nodes with `egoexo ros --params-file config/predict.yaml`.
"""

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "egoexo_ros"

# Launch arguments that override a parameter of config/predict.yaml when given.
PARAMETER_ARGUMENTS = {
    "backend": "inference backend tried first: torch, onnxruntime or tensorrt",
    "device": "inference device: cpu, cuda or cuda:N",
    "weights_dir": "directory of the models' weights (the file's default: the shipped models)",
    "engine_cache_dir": "TensorRT engine cache directory",
    "sampler": "diffusion sampler: ddim or dpmpp",
    "steps": "number of denoising steps",
    "guidance_scale": "classifier-free guidance scale",
    "seed": "random seed of every prediction",
    "num_frames": "frames per window (0: the model's)",
    "model_fps": "rate the exo stream is subsampled to (0: the model's)",
    "trigger": "instruction or continuous",
    "window_stride": "continuous trigger: subsampled frames between window starts",
    "max_queued_windows": "windows waiting for a model at most",
    "publish_resolution": "model or ego_camera",
}

# (launch argument, the nodes' relative topic, default target, description)
TOPIC_ARGUMENTS = (
    ("exo_topic", "exo/image_raw", "exo/image_raw", "exo (third-person) camera, sensor_msgs/Image"),
    ("ego_topic", "ego/image_raw", "ego/image_raw", "ego (head or wrist) camera, sensor_msgs/Image"),
    ("instruction_topic", "instruction", "instruction", "instruction, std_msgs/String"),
    ("hoi_masks_topic", "hoi_masks", "hoi_masks", "predicted ego HOI masks, egoexo_ros/HOIMasks"),
    ("pred_video_topic", "pred_video", "pred_video", "predicted ego video, egoexo_ros/PredictedVideo"),
)


def launch_nodes(context):
    """The two nodes, with the parameter file and only the overrides that were given."""
    params_file = LaunchConfiguration("params_file").perform(context)
    overrides = {}
    for name in PARAMETER_ARGUMENTS:
        value = LaunchConfiguration(name).perform(context)
        if value != "":
            overrides[name] = yaml.safe_load(value)
    remappings = [
        (topic, LaunchConfiguration(argument).perform(context)) for argument, topic, _, _ in TOPIC_ARGUMENTS
    ]
    namespace = LaunchConfiguration("namespace").perform(context)
    # A node ignores overrides of parameters it does not declare, so both get the same ones.
    parameters = [params_file, overrides] if overrides else [params_file]
    return [
        Node(
            package=PACKAGE,
            executable=executable,
            name=executable,
            namespace=namespace,
            parameters=parameters,
            remappings=remappings,
            output="screen",
            emulate_tty=True,
        )
        for executable in ("mask_node", "video_node")
    ]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    profile = LaunchConfiguration("fastdds_profile")
    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "predict.yaml"]),
            description="parameters file of both nodes (holds every default)",
        ),
        DeclareLaunchArgument(
            "namespace", default_value="egoexo", description="namespace of the nodes and topics"
        ),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=PathJoinSubstitution([share, "config", "fastdds_large_images.xml"]),
            description="Fast DDS XML profile (16 MB shared memory for camera-sized images)",
        ),
        *[
            DeclareLaunchArgument(name, default_value="", description=f"{text} (empty: params_file's value)")
            for name, text in PARAMETER_ARGUMENTS.items()
        ],
        *[
            DeclareLaunchArgument(argument, default_value=default, description=text)
            for argument, _, default, text in TOPIC_ARGUMENTS
        ],
    ]
    return LaunchDescription(
        [
            *arguments,
            SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", profile),
            SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile),
            OpaqueFunction(function=launch_nodes),
        ]
    )

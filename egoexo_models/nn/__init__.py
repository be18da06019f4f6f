"""Shared neural-network building blocks: a torchvision-free ResNet, CBAM and small conv blocks."""

from egoexo_models.nn.blocks import ConvNormAct, UpBlock
from egoexo_models.nn.cbam import CBAM
from egoexo_models.nn.resnet import BasicBlock, ResNetEncoder, load_imagenet_resnet

__all__ = ["CBAM", "BasicBlock", "ConvNormAct", "ResNetEncoder", "UpBlock", "load_imagenet_resnet"]

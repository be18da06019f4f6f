"""rclpy helpers both nodes use: parameters from specs, QoS, stamps, diagnostics messages."""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException, ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from egoexo_ros.params import ParamSpec, QosConfig

_TYPES = {
    bool: Parameter.Type.BOOL,
    int: Parameter.Type.INTEGER,
    float: Parameter.Type.DOUBLE,
    str: Parameter.Type.STRING,
    list: Parameter.Type.STRING_ARRAY,
}


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ParameterDescriptor of `spec`: type, description, range or choices; read-only once declared."""
    result = ParameterDescriptor(
        name=spec.name, type=_TYPES[spec.kind].value, description=spec.description, read_only=True
    )
    if spec.choices:
        result.additional_constraints = f"one of: {', '.join(spec.choices)}"
    if spec.kind is int and spec.low is not None:
        result.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    if spec.kind is float and spec.low is not None:
        result.floating_point_range = [FloatingPointRange(from_value=spec.low, to_value=spec.high, step=0.0)]
    return result


def declare_parameters(node: Node, specs: tuple[ParamSpec, ...]) -> None:
    """Declare every spec without a default (the parameters file has them).

    A value rclpy refuses (wrong type, out of range) is declared again untyped, so that it reaches
    the validation in params.py, whose message names the parameter, the value and the range.
    """
    for spec in specs:
        try:
            node.declare_parameter(spec.name, _TYPES[spec.kind], descriptor(spec))  # a type: no default
        except ParameterException:
            untyped = ParameterDescriptor(name=spec.name, description=spec.description, dynamic_typing=True)
            node.declare_parameter(spec.name, None, untyped)


def read_parameters(node: Node, specs: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """name -> value of each declared spec; None for one never set."""
    values: dict[str, Any] = {}
    for spec in specs:
        try:
            values[spec.name] = node.get_parameter(spec.name).value if node.has_parameter(spec.name) else None
        except ParameterUninitializedException:
            values[spec.name] = None
    return values


def qos_profile(config: QosConfig) -> QoSProfile:
    reliability = (
        ReliabilityPolicy.RELIABLE if config.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=config.depth,
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


def reliable_qos(depth: int) -> QoSProfile:
    return qos_profile(QosConfig("reliable", depth))


def to_ns(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def to_time(nanoseconds: int) -> Time:
    sec, nanosec = divmod(int(nanoseconds), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def diagnostic_array(
    stamp: Time, name: str, hardware_id: str, level: int, message: str, values: list[tuple[str, str]]
) -> DiagnosticArray:
    status = DiagnosticStatus(
        level=bytes([level]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values],
    )
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array

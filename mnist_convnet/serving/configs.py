"""Which models to serve, and which of their versions: TF Serving's model config, version
policies and labels, and the version folders on disk. Plain Python and protobuf, no
TensorFlow, so that ``mnist-convnet serve`` refuses a folder with no model in it, a bad
policy or a bad config file before TensorFlow starts (``check``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from mnist_convnet import files, versions
from mnist_convnet.errors import UserError
from mnist_convnet.serving import metrics
from mnist_convnet.serving.options import ServerOptions


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions on disk to serve (TF Serving's ServableVersionPolicy)."""

    kind: str = "latest"  # latest | all | specific
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """The flag's form: ``latest``, ``latest:2``, ``all``, ``specific:1,3``."""
        kind, _, arg = text.strip().partition(":")
        try:
            if kind == "latest":
                policy = cls("latest", int(arg) if arg else 1)
            elif kind == "all" and not arg:
                policy = cls("all")
            elif kind == "specific":
                policy = cls("specific", versions=tuple(sorted(int(v) for v in arg.split(","))))
            else:
                raise ValueError
        except ValueError:
            raise UserError(
                f"bad version policy {text!r}: latest, latest:N, all or specific:V1,V2,..."
            ) from None
        if policy.num_versions < 1 or (kind == "specific" and not policy.versions):
            raise UserError(f"bad version policy {text!r}: it would serve no version")
        return policy

    @classmethod
    def from_proto(cls, policy) -> VersionPolicy:
        which = policy.WhichOneof("policy_choice")
        if which == "all":
            return cls("all")
        if which == "specific":
            return cls("specific", versions=tuple(sorted(policy.specific.versions)))
        return cls("latest", max(1, policy.latest.num_versions) if which else 1)

    def choose(self, on_disk: list[int]) -> list[int]:
        if self.kind == "all":
            return list(on_disk)
        if self.kind == "specific":
            return [v for v in on_disk if v in self.versions]
        return list(on_disk[-self.num_versions :])


LABEL = r"[A-Za-z0-9_-]+"  # what a version label may be


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One model: its name, base folder of versions, policy and labels."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: dict[str, int] = dataclasses.field(default_factory=dict)


def parse_labels(text: str) -> dict[str, int]:
    """``stable=1,canary=2`` -> {"stable": 1, "canary": 2}."""
    labels = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, _, version = item.partition("=")
        if not re.fullmatch(LABEL, label) or not version.isdigit():
            raise UserError(f"bad version label {item!r}: write label=version, e.g. stable=1")
        labels[label] = int(version)
    return labels


def _parsed(path: Path):
    try:
        return text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    except OSError as error:
        raise UserError(f"cannot read model config file {path}: {error.strerror}") from None
    except text_format.ParseError as error:
        raise UserError(f"model config file {path}: {error}") from None


def read_model_config_file(path: str | Path) -> list[ModelConfig]:
    """TF Serving's ``--model_config_file``: a text-format ModelServerConfig."""
    path = Path(path)
    config = _parsed(path)
    models = [
        ModelConfig(
            name=entry.name,
            base_path=(path.parent / entry.base_path).resolve(),
            policy=VersionPolicy.from_proto(entry.model_version_policy),
            labels=dict(entry.version_labels),
        )
        for entry in config.model_config_list.config
    ]
    names = [m.name for m in models]
    if not models or len(set(names)) != len(names) or not all(names):
        raise UserError(f"model config file {path}: needs models with distinct, non-empty names")
    return models


def label_entry(path: str | Path, base_path: Path, label: str):
    """The config file's parsed ModelServerConfig and its entry for ``base_path``, with
    ``label`` checked: what ``set_label`` changes, refused before any work."""
    path = Path(path)
    if not re.fullmatch(LABEL, label):
        raise UserError(f"bad version label {label!r}: letters, digits, _ and - only")
    config = _parsed(path)
    for entry in config.model_config_list.config:
        if (path.parent / entry.base_path).resolve() == Path(base_path).resolve():
            return config, entry
    raise UserError(f"model config file {path} has no model whose base_path is {base_path}")


def set_label(path: str | Path, base_path: Path, label: str, version: int) -> None:
    """Names ``version`` of the model at ``base_path`` ``label`` in the config file, the
    rest of it kept; written whole, so a server reading it never sees half a file."""
    config, entry = label_entry(path, base_path, label)
    entry.version_labels[label] = version
    files.write_whole(Path(path), text_format.MessageToString(config).encode())


def model_configs(options: ServerOptions) -> list[ModelConfig]:
    """The models to serve: from ``--model_config_file``, or the one ``--model_dir``."""
    if options.model_config_file:
        if options.model_dir:
            raise UserError("give --model_dir or --model_config_file, not both")
        return read_model_config_file(options.model_config_file)
    if not options.model_dir:
        raise UserError("give --model_dir (a base folder of versions) or --model_config_file")
    base = Path(options.model_dir)
    if versions.is_saved_model(base):
        raise UserError(
            f"{base} is a SavedModel version folder; give its base folder ({base.parent}), "
            "as TF Serving's --model_base_path"
        )
    policy = VersionPolicy.parse(options.model_version_policy)
    return [ModelConfig(options.model_name, base, policy, parse_labels(options.version_labels))]


def metrics_path(options: ServerOptions) -> str | None:
    if options.monitoring_config_file:
        return metrics.read_monitoring_config(options.monitoring_config_file)
    return metrics.DEFAULT_PATH if options.enable_prometheus else None


def check(options: ServerOptions) -> None:
    """Everything about what to serve that can be refused without TensorFlow: the model
    configs, a base folder with no complete version, the monitoring config."""
    for config in model_configs(options):
        if not versions.complete(config.base_path):
            raise UserError(f"no SavedModel versions (1/, 2/, ...) found in {config.base_path}")
    metrics_path(options)

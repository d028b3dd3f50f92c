"""KubernetesSDK: a batch/v1 Job per rec through the official client (extra ``kubernetes``)."""

from tao_automl.platforms.kubernetes.sdk import KubernetesSDK

__all__ = ["KubernetesSDK"]

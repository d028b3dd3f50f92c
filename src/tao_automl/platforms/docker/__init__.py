"""DockerSDK: a container per rec through the docker client (extra ``docker``)."""

from tao_automl.platforms.docker.sdk import DockerSDK

__all__ = ["DockerSDK"]

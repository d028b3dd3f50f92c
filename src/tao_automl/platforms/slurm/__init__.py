"""SlurmSDK: jobs through the Slurm CLI, locally or over SSH (extra ``slurm``)."""

from tao_automl.platforms.slurm.sdk import SlurmSDK

__all__ = ["SlurmSDK"]

"""BrevSDK: jobs on Brev instances through the brev CLI (extra ``brev``)."""

from tao_automl.platforms.brev.sdk import BrevSDK

__all__ = ["BrevSDK"]

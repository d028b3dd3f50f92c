"""LeptonSDK: DGX Cloud Lepton jobs through the leptonai client (extra ``lepton``)."""

from tao_automl.platforms.lepton.sdk import LeptonSDK

__all__ = ["LeptonSDK"]

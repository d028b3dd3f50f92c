"""LLM plumbing shared by the LLM brains: the OpenAI-compatible client, prompts, validation/repair.

Nothing here imports ``openai`` at module load: the ``llm`` extra is needed only when a client
actually talks to an endpoint.
"""

from tao_automl.llm.client import LLMClient, LLMConfig, LLMEndpointError, LLMFailure, normalise_endpoint

__all__ = ["LLMClient", "LLMConfig", "LLMEndpointError", "LLMFailure", "normalise_endpoint"]

"""LLM-guided brains: llm, hybrid, autoresearch, plus the analyzer and research programs they use."""

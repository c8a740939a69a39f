from .cache import (DEFAULT_TEMPLATE, PromptCacheError, build_prompt,
                    default_prompt_names, load_prompt_cache,
                    make_cache_command, save_prompt_cache)
from .clip_embeddings import extract_clip_word_embeddings

__all__ = [
    'DEFAULT_TEMPLATE', 'PromptCacheError', 'build_prompt',
    'default_prompt_names', 'load_prompt_cache', 'make_cache_command',
    'save_prompt_cache', 'extract_clip_word_embeddings'
]

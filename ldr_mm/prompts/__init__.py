from .cache import (DEFAULT_TEMPLATE, PromptCacheError, build_prompt,
                    default_prompt_names, load_prompt_cache,
                    make_cache_command, save_prompt_cache,
                    save_random_prompt_cache)
from .clip_embeddings import extract_clip_word_embeddings
from .encoders import (PROMPT_ENCODERS, PromptEmbedding, encode_prompt,
                       register_prompt_encoder)
from .hf_embeddings import extract_hf_word_embeddings
from .word2vec import (Word2VecError, extract_word2vec_embeddings,
                       read_word2vec)

__all__ = [
    'DEFAULT_TEMPLATE', 'PromptCacheError', 'build_prompt',
    'default_prompt_names', 'load_prompt_cache', 'make_cache_command',
    'save_prompt_cache', 'save_random_prompt_cache',
    'extract_clip_word_embeddings', 'PROMPT_ENCODERS',
    'PromptEmbedding', 'encode_prompt', 'register_prompt_encoder',
    'extract_hf_word_embeddings', 'Word2VecError',
    'extract_word2vec_embeddings', 'read_word2vec'
]

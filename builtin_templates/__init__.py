"""Template packs shipped with Ordo (YAML only). Use them as ``builtin:NAME``."""

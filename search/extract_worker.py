"""The extraction child: ``python -m search.extract_worker PATH MEDIA_TYPE MAX_MB MAX_CHARS CPU_S``.

It caps its own address space and CPU time before touching the input, then prints one JSON
object: ``{"text", "method", "ocr_status", "error", "truncated"}``.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def _limit(max_memory_mb: int, cpu_seconds: int) -> None:
    limit = max_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> int:
    path, media_type, max_mb, max_chars, cpu_seconds = argv
    _limit(int(max_mb), int(cpu_seconds))
    from search.formats import READERS

    result: dict[str, object]
    try:
        text, method, ocr_status = READERS[media_type](Path(path))
        limit = int(max_chars)
        result = {
            "text": text[:limit],
            "method": method,
            "ocr_status": ocr_status,
            "error": None,
            "truncated": len(text) > limit,
        }
    except MemoryError:
        result = {"text": "", "method": "none", "ocr_status": "not_needed",
                  "error": f"the file needs more than {max_mb} MB to read"}
    except Exception as error:  # any parser failure on untrusted bytes is a result, not a crash
        result = {"text": "", "method": "none", "ocr_status": "not_needed",
                  "error": f"unreadable {media_type} file: {type(error).__name__}: {error}"[:500]}
    sys.stdout.write(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

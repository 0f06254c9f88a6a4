"""The ``literalinclude`` directives of a MyST page, read as Sphinx reads them."""
from __future__ import annotations

import re
from pathlib import Path

DIRECTIVE = re.compile(r"^```\{literalinclude\}\s+(\S+)\n((?::[\w-]+:.*\n)*)```", re.M)


def literal_includes(page: Path) -> list[tuple[Path, dict]]:
    """(resolved target file, {option: value}) of every literalinclude on ``page``."""
    return [((page.parent / match.group(1)).resolve(),
             dict(re.findall(r"^:([\w-]+):\s*(.*)$", match.group(2), re.M)))
            for match in DIRECTIVE.finditer(page.read_text())]

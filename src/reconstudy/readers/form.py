"""The rating form: one static HTML page that opens from disk and exports a tidy CSV.

The page (``form_template.html``, inline CSS and JavaScript, no network: its Content Security
Policy forbids any fetch) receives the packet manifest as embedded JSON. A reader enters a
reader ID, scores each case 1–5 on every criterion (mouse or keys ``1``–``5``), sees progress,
and exports ``reader,case,criterion,score`` rows through a Blob download; the same text is
shown in a text box in case a locked-down browser blocks downloads. Scores are kept in the
browser's local storage under the packet ID, so closing the page loses nothing. Exporting with
unrated cases first lists them, with a button to export the partial CSV anyway.
"""

from __future__ import annotations

import html
import json
from importlib import resources

TEMPLATE = "form_template.html"
_JSON_SLOT = "/*__PACKET_JSON__*/null"
_TITLE_SLOT = "__TITLE__"


def load_template() -> str:
    """The form template shipped with the package."""
    return resources.files("reconstudy.readers").joinpath(TEMPLATE).read_text(encoding="utf-8")


def render_form(manifest: dict) -> str:
    """The rating form for a packet ``manifest`` (``packet_id``, ``title``, ``criteria``,
    ``scale``, ``cases`` with ``id`` and ``image``), as one self-contained HTML string."""
    for field in ("packet_id", "criteria", "scale", "cases"):
        if field not in manifest:
            raise ValueError(
                f"packet manifest lacks {field!r}; build it with reconstudy.readers.export_packet"
            )
    template = load_template()
    if _JSON_SLOT not in template or _TITLE_SLOT not in template:
        raise ValueError(f"{TEMPLATE}: the template lost its {_JSON_SLOT} or {_TITLE_SLOT} placeholder")
    # "</" would end the <script> element early if a label contained "</script>".
    payload = json.dumps(manifest, ensure_ascii=True).replace("</", "<\\/")
    title = html.escape(str(manifest.get("title", "Blinded reading")))
    return template.replace(_JSON_SLOT, payload).replace(_TITLE_SLOT, title)

"""A report as a list of blocks, rendered to Markdown (linking PNG files beside it) or to one self-contained HTML
file. Blocks: ``("h1", text)``, ``("h2", text)``, ``("p", text)``, ``("alert", text)``, ``("table", header,
rows)``, ``("image", file name, caption)``, ``("tree", [(depth, text), ...])``, ``("code", yaml text)``."""

from __future__ import annotations

import base64
import html


def to_markdown(blocks: list[tuple]) -> str:
    """Markdown that links the PNGs next to it."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    out = []
    for kind, *args in blocks:
        if kind == "h1":
            out.append(f"# {args[0]}")
        elif kind == "h2":
            out.append(f"## {args[0]}")
        elif kind == "alert":
            out.append(f"> **{args[0]}**")
        elif kind == "p":
            out.append(args[0])
        elif kind == "table":
            header, rows = args
            out.append("\n".join(["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
                                 + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]))
        elif kind == "image":
            out.append(f"![{args[1]}]({args[0]})\n\n*{args[1]}*")
        elif kind == "tree":
            out.append("\n".join("  " * depth + f"- {text}" for depth, text in args[0]))
        elif kind == "code":
            out.append(f"```yaml\n{args[0].rstrip()}\n```")
    return "\n\n".join(out) + "\n"


HTML_STYLE = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}
pre{background:#f6f6f6;padding:1em;overflow:auto}.oracle{background:#b00020;color:#fff;font-weight:bold;
padding:1em;font-size:1.2em}"""


def to_html(blocks: list[tuple], pictures: dict[str, bytes], title: str) -> str:
    """One self-contained HTML file: every PNG of ``pictures`` is embedded as a base64 data URI."""
    e = html.escape
    out = ["<!DOCTYPE html>", f"<html><head><meta charset=\"utf-8\"><title>{e(title)}</title>",
           f"<style>{HTML_STYLE}</style></head><body>"]
    for kind, *args in blocks:
        if kind in ("h1", "h2", "p"):
            out.append(f"<{kind}>{e(args[0])}</{kind}>")
        elif kind == "alert":
            out.append(f"<div class=\"oracle\">{e(args[0])}</div>")
        elif kind == "table":
            header, rows = args
            head = "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>"
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
            out.append(f"<table>{head}{body}</table>")
        elif kind == "image":
            data = base64.b64encode(pictures[args[0]]).decode()
            out.append(f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{e(args[1])}\">"
                       f"<figcaption>{e(args[1])} ({e(args[0])})</figcaption></figure>")
        elif kind == "tree":
            out.append("".join(f"<div style=\"margin-left:{1.5 * d}em\">&bull; {e(t)}</div>" for d, t in args[0]))
        elif kind == "code":
            out.append(f"<pre>{e(args[0])}</pre>")
    return "\n".join(out) + "\n</body></html>\n"

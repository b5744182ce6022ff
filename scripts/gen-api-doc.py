#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate docs/api.md from the kernel-doc comments in include/tide/*.h.

Usage: scripts/gen-api-doc.py [--check] [--out FILE] [ROOT]

Understands the kernel-doc subset tide uses: "name() - summary" for
functions and function-like macros, "struct|enum|typedef name - summary",
"DOC: title" prose blocks, "@arg: text" lines (continued by indented
lines), and "Context:" / "Return:" sections.  The declaration that follows a
block is shown as code, stripped of export and attribute macros.  Public
declarations without kernel-doc (constants, small structs) are listed per
header with their plain comments, so the reference is complete.

It also keeps the examples in docs/guide.md current: a fenced block right
after "<!-- include examples/x.c -->" is replaced by that file.

--check compares with the existing files and exits 1 when one is stale (the
ctest test api_doc_current runs this).
"""
import argparse
import difflib
import os
import re
import sys

HEADER_ORDER = ["common.h", "kv.h", "vec.h", "shrinker.h", "pressure.h",
                "arena.h"]
ATTR_NAMES = {"TIDE_API", "TIDE_MALLOC", "TIDE_WARN_UNUSED",
              "TIDE_ALLOC_SIZE", "TIDE_ALLOC_SIZE2"}
ATTRS = re.compile(r"\s*\b(TIDE_API|TIDE_MALLOC|TIDE_WARN_UNUSED|"
                   r"TIDE_ALLOC_SIZE2?\([^)]*\))\s*")


def clean_decl(text):
    """A declaration as a reader wants it: no export/attribute macros."""
    if text.lstrip().startswith("#define"):
        return "\n".join(l.rstrip() for l in text.strip().splitlines())
    text = ATTRS.sub(" ", text)
    lines = [l.rstrip() for l in text.strip().splitlines()]
    out = []
    for l in lines:
        l = re.sub(r"(?<=\S) {2,}(?=\S)", " ", l)
        l = l.replace("( ", "(").replace(" ;", ";")
        out.append(l)
    return "\n".join(out).strip()


def comment_lines(block):
    """The text lines of a /** ... */ or /* ... */ block."""
    body = re.sub(r"^/\*\*?", "", block.strip())
    body = re.sub(r"\*/$", "", body)
    lines = []
    for l in body.splitlines():
        l = re.sub(r"^\s*\* ?", "", l, count=1)
        lines.append(l.rstrip())
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def inline(text):
    """kernel-doc markup to Markdown: %CONST, &struct x, @param, func()."""
    text = re.sub(r"%([A-Za-z_][A-Za-z0-9_]*)", r"`\1`", text)
    text = re.sub(r"&(struct|typedef|enum) ([A-Za-z_][A-Za-z0-9_.>-]*)",
                  r"`\1 \2`", text)
    text = re.sub(r"(?<![\w`])@([A-Za-z_][A-Za-z0-9_]*(?:->[A-Za-z_]\w*)?)",
                  r"`\1`", text)
    text = re.sub(r"(?<![\w`])(tide_[a-z0-9_]+\(\))", r"`\1`", text)
    text = re.sub(r"(?<![\w`])(tide_[a-z0-9_]+\.[a-z0-9_]+)", r"`\1`", text)
    text = re.sub(r"(?<![\w`])(\$[A-Z_]+)", r"`\1`", text)
    return text


def sentence(text):
    """Capitalize a note unless it starts with an identifier."""
    text = text.strip()
    if re.match(r"[a-z]+\b(?![_.(])", text):
        text = text[:1].upper() + text[1:]
    return text


def paragraphs(lines):
    """Join wrapped lines into paragraphs; keep indented lists together."""
    paras, cur = [], []
    for l in lines:
        if not l.strip():
            if cur:
                paras.append(" ".join(cur))
                cur = []
        else:
            cur.append(l.strip())
    if cur:
        paras.append(" ".join(cur))
    return paras


def parse_kdoc(lines):
    """Split a kernel-doc block into title, summary, params, sections."""
    first = lines[0]
    doc = {"params": [], "body": [], "context": [], "return": []}
    m = re.match(r"DOC:\s*(.*)", first)
    if m:
        doc["kind"], doc["name"], doc["summary"] = "doc", m.group(1), ""
        doc["body"] = lines[1:]
        return doc
    m = re.match(r"(struct|enum|typedef|union)\s+(\w+)\s*-\s*(.*)", first)
    if m:
        doc["kind"], doc["name"], doc["summary"] = m.groups()
    else:
        m = re.match(r"(\w+)(\(\))?\s*-\s*(.*)", first)
        if not m:
            return None
        doc["kind"] = "function"
        doc["name"] = m.group(1) + "()"
        doc["summary"] = m.group(3)
    rest = lines[1:]
    # Continuation lines of the summary (before the first @param or blank).
    while rest and rest[0].strip() and not rest[0].lstrip().startswith("@"):
        doc["summary"] += " " + rest[0].strip()
        rest = rest[1:]
    section = "body"
    for l in rest:
        s = l.strip()
        pm = re.match(r"@([\w.]+):\s*(.*)", s)
        if pm and section in ("body", "params") and not doc["body"]:
            doc["params"].append([pm.group(1), pm.group(2)])
            section = "params"
            continue
        if section == "params" and s and l[:1] in (" ", "\t"):
            doc["params"][-1][1] += " " + s
            continue
        if section == "params" and not s:
            section = "body"
            continue
        cm = re.match(r"(Context|Return|Returns):\s*(.*)", s)
        if cm:
            section = "context" if cm.group(1) == "Context" else "return"
            doc[section].append(cm.group(2))
            continue
        doc[section].append(l)
    return doc


def next_decl(src, pos):
    """The declaration starting at pos: a #define (with continuations),
    a struct/enum/union body up to '};', or anything up to ';'."""
    m = re.compile(r"\s*").match(src, pos)
    pos = m.end()
    if src.startswith("#define", pos):
        end = pos
        while True:
            nl = src.find("\n", end)
            if nl < 0:
                nl = len(src)
            if src[end:nl].rstrip().endswith("\\"):
                end = nl + 1
                continue
            return src[pos:nl], nl
    head = src[pos:pos + 200]
    if re.match(r"(typedef\s+)?(struct|enum|union)\s+\w+\s*\{", head):
        end = src.find("};", pos)
        return src[pos:end + 2], end + 2
    end = src.find(";", pos)
    return src[pos:end + 1], end + 1


def header_intro(src):
    """The file's top comment, minus its first 'tide/x.h - ' prefix."""
    blocks = re.findall(r"/\*.*?\*/", src, re.S)
    for b in blocks:
        if "SPDX" in b and len(comment_lines(b)) <= 1:
            continue
        lines = [l for l in comment_lines(b) if "SPDX" not in l]
        text = " ".join(paragraphs(lines)[:1])
        text = re.sub(r"^tide/\w+\.h\s*-\s*", "", text)
        rest = paragraphs(lines)[1:]
        return [text[:1].upper() + text[1:]] + rest
    return []


def render_entry(doc, decl, out):
    anchor = doc["name"]
    if doc["kind"] in ("struct", "enum", "typedef", "union"):
        anchor = doc["kind"] + " " + doc["name"]
    out.append("### `%s`\n" % anchor)
    out.append(inline(sentence(doc["summary"].rstrip("."))) + ".\n")
    if decl:
        out.append("```c\n%s\n```\n" % decl)
    if doc["params"]:
        label = ("Members" if doc["kind"] in ("struct", "union") else
                 "Values" if doc["kind"] == "enum" else "Parameters")
        out.append("%s:\n" % label)
        for name, text in doc["params"]:
            out.append("- `%s`: %s" % (name, inline(text)))
        out.append("")
    for p in paragraphs(doc["body"]):
        out.append(inline(p) + "\n")
    if doc["context"]:
        out.append("**Context:** %s\n" % inline(" ".join(
            paragraphs(doc["context"]))))
    if doc["return"]:
        out.append("**Return:** %s\n" % inline(" ".join(
            paragraphs(doc["return"]))))


def document_header(path, out, toc):
    src = open(path, encoding="utf-8").read()
    name = "tide/" + os.path.basename(path)
    out.append("## `%s`\n" % name)
    toc.append((name, []))
    for p in header_intro(src):
        out.append(inline(p) + "\n")
    guard = re.search(r"#ifndef (\w+_H)\b", src)
    guard = guard.group(1) if guard else None

    entries, others = [], []
    pos = 0
    pending_plain = None
    token = re.compile(r"/\*\*(?!/).*?\*/|/\*.*?\*/|^#define[^\n]*|"
                       r"^(?:typedef\s+)?(?:struct|enum|union)\s+tide_\w+\s*\{",
                       re.S | re.M)
    while True:
        m = token.search(src, pos)
        if not m:
            break
        t = m.group(0)
        if t.startswith("/**") and not t.startswith("/**/"):
            lines = comment_lines(t)
            if len(lines) == 1 and not re.match(r"[\w ]+(\(\))?\s+-\s", lines[0]):
                # One-line "/** text */" documents the next #define.
                decl, pos = next_decl(src, m.end())
                others.append((lines[0], clean_decl(decl)))
                continue
            doc = parse_kdoc(lines)
            if not doc:
                pos = m.end()
                continue
            if doc["kind"] == "doc":
                entries.append((doc, None))
                pos = m.end()
                continue
            decl, pos = next_decl(src, m.end())
            entries.append((doc, clean_decl(decl)))
            pending_plain = None
            continue
        if re.fullmatch(r"/\*\s*clang-format (?:on|off)\s*\*/", t):
            # a directive to the formatter, not a note for readers
            pos = m.end()
            continue
        if t.startswith("/*"):
            if pending_plain:
                others.append((pending_plain, ""))
            pending_plain = " ".join(paragraphs(comment_lines(t)))
            if "SPDX" in t or src.rfind("\n", 0, m.start()) < 0 or \
                    m.start() < 120:
                pending_plain = None
            # A trailing comment on a code line belongs to that line, and
            # an indented one to the body it is in.
            line_start = src.rfind("\n", 0, m.start()) + 1
            if src[line_start:m.start()].strip() or \
                    src[line_start:m.start()].startswith(("\t", " ")):
                pending_plain = None
            pos = m.end()
            continue
        if t.startswith("#define"):
            # A run of consecutive public #define lines, shown verbatim
            # with their trailing comments.
            run, end = [], m.start()
            while src.startswith("#define", end):
                decl, nxt = next_decl(src, end)
                dm = re.match(r"#define\s+(\w+)(\()?", decl)
                dname = dm.group(1)
                if not (dname == guard or dname.startswith("TIDE__") or
                        not dname.startswith("TIDE_") or dm.group(2) or
                        dname in ATTR_NAMES):
                    run.append(decl.strip())
                end = nxt + 1
                if end >= len(src):
                    break
            pos = end
            if run:
                others.append((pending_plain or "", "\n".join(run)))
            pending_plain = None
            continue
        # An undocumented public struct/enum definition.
        decl, pos = next_decl(src, m.start())
        others.append((pending_plain or "", clean_decl(decl)))
        pending_plain = None

    for doc, decl in entries:
        if doc["kind"] == "doc":
            out.append("### %s\n" % doc["name"].capitalize())
            for p in paragraphs(doc["body"]):
                out.append(inline(p) + "\n")
            continue
        render_entry(doc, decl, out)
        toc[-1][1].append(doc["name"] if doc["kind"] == "function" else
                          doc["kind"] + " " + doc["name"])
    if others:
        out.append("### Constants and plain declarations of `%s`\n" % name)
        for note, code in others:
            if note:
                note = sentence(note)
                out.append(inline(note) +
                           ("" if note.endswith(".") else ".") + "\n")
            if code:
                out.append("```c\n%s\n```\n" % code)


def slug(text):
    s = text.lower().replace("`", "")
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def generate(root):
    inc = os.path.join(root, "include", "tide")
    names = sorted(os.listdir(inc),
                   key=lambda n: (HEADER_ORDER.index(n)
                                  if n in HEADER_ORDER else 99, n))
    body, toc = [], []
    for n in names:
        if n.endswith(".h"):
            document_header(os.path.join(inc, n), body, toc)
    out = ["# tide API reference", "",
           "Generated by `make docs` (`scripts/gen-api-doc.py`) from the "
           "kernel-doc comments in `include/tide/*.h`; do not edit by hand. "
           "`#include <tide.h>` includes every header below. The guide is "
           "[guide.md](guide.md).", ""]
    for name, items in toc:
        out.append("- [`%s`](#%s): %s" % (
            name, slug(name), ", ".join(
                "[`%s`](#%s)" % (i, slug(i)) for i in items)))
    out.append("")
    text = "\n".join(out + body)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
    return text


INCLUDE = re.compile(r"(<!-- include ([\w./-]+) -->\n)```c\n.*?```\n", re.S)


def sync_includes(root, text):
    """The guide with every included example replaced by its file."""
    def repl(m):
        code = open(os.path.join(root, m.group(2)), encoding="utf-8").read()
        return "%s```c\n%s```\n" % (m.group(1), code)
    return INCLUDE.sub(repl, text)


def check_or_write(path, text, check):
    try:
        old = open(path, encoding="utf-8").read()
    except OSError:
        old = ""
    if not check:
        if old != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return 0
    if old == text:
        print("%s is current" % path)
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        old.splitlines(True), text.splitlines(True), path, "generated", n=1))
    print("%s is stale: run `make docs`" % path)
    return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?",
                    default=os.path.join(os.path.dirname(
                        os.path.abspath(__file__)), ".."))
    ap.add_argument("--out")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    out = a.out or os.path.join(root, "docs", "api.md")
    r = check_or_write(out, generate(root), a.check)
    guide = os.path.join(root, "docs", "guide.md")
    if os.path.exists(guide):
        text = open(guide, encoding="utf-8").read()
        r |= check_or_write(guide, sync_includes(root, text), a.check)
    return r

if __name__ == "__main__":
    sys.exit(main())

# Generates pretokenize.json: how the pre-tokenizer expressions split each
# input, computed with the Python `regex` module (which has lookahead and
# \p{..} classes). The Go splitters are written by hand and checked against
# this file by TestPretokenizeGolden. Run: python3 pretokenize.py
import json
import unicodedata

import regex

EXPRS = {
    "gpt-2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}

INPUTS = [
    "", " ", "  ", "\t", "\n", "\r\n", " \n ", "\n\n\n", "a  \n\n  b", "x \t\r\n\t y",
    "trailing spaces   ", "   leading", "two  spaces  between",
    "It's we've I'm you'll he'd they're can't",
    "IT'S WE'VE I'M YOU'LL HE'D THEY'RE", "'s' 'S 'xyz ''' 'Ve",
    "1 12 123 1234 12345 1234567 3.14159 -42 1,000,000",
    "abc123def 42nd A1B2C3", "x²³ ½ Ⅻ ٣٤٥ १२३",
    "Hello, world! How's it going?", "...!!!???", " !! ?? ..", "(a) [b] {c} <d>",
    "email@example.com http://x.y/z?q=1&r=2", "--flag=value_x", "$100 #tag @user",
    "line1\nline2\r\nline3\rend", "punct.\n\nnext", "emoji 😀😃 and 👍🏽 ok",
    "нещо на Български", "我想在apple工作1314151天～", "こんにちは世界", "안녕하세요",
    "ä ö ü ß É", "e\u0301 combining", "คำภาษาไทย", "مرحبا بالعالم",
    "nbsp\u00a0here", "ideographic\u3000space", "line\u2028sep", "tab\tand\u000bvt",
    "mixed  \t\n  whitespace\n\n\tend  ", "a'b'c", "don't\nstop", "  'twas", " 9lives",
]

INPUTS += [
    "HelloWorld HTTPServer iPhone McDONALD ÉCOLE École ПРИВЕТмир Привет", "a/b/c\n//x", "x²y", "CamelCase123ABC",
]

out = {name: [[s, regex.findall(e, s)] for s in INPUTS] for name, e in EXPRS.items()}


# Tekken (Mistral Nemo) as llama.cpp matches it: its expression, with the
# lookaheads llama.cpp substitutes for the upper/lower-case classes, run by
# std::regex over "collapsed" text, where every non-ASCII code point stands
# for its category (all letters alike) and non-ASCII white space is \v.
# Text between matches is a word too.
L, N, S = r"A-Za-z\xd2", r"0-9\xd1", r"\t\n\x0b\f\r "
TEKKEN = (rf"[^\r\n{L}{N}]?((?=[{L}])([^a-z]))*((?=[{L}])([^A-Z]))+"
          rf"|[^\r\n{L}{N}]?((?=[{L}])([^a-z]))+((?=[{L}])([^A-Z]))*"
          rf"|[{N}]| ?[^{S}{L}{N}]+[\r\n/]*|[{S}]*[\r\n]+|[{S}]+(?![^{S}])|[{S}]+")


def collapse(s):
    out = []
    for c in s:
        if ord(c) < 128:
            out.append(c)
        elif c.isspace() or c in "\u0085\u00a0\u1680\u2028\u2029\u202f\u205f\u3000":
            out.append("\x0b")
        else:
            cat = unicodedata.category(c)
            out.append({"L": "\xd2", "N": "\xd1", "P": "\xd3", "M": "\xd4", "S": "\xd5"}.get(cat[0], "\xd0"))
    return "".join(out)


def split(expr, s):
    words, at = [], 0
    for m in regex.finditer(expr, collapse(s)):
        if m.start() > at:
            words.append(s[at:m.start()])
        words.append(s[m.start():m.end()])
        at = m.end()
    if at < len(s):
        words.append(s[at:])
    return words


out["tekken"] = [[s, split(TEKKEN, s)] for s in INPUTS]
with open("pretokenize.json", "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)

# Generates pretokenize.json: how the pre-tokenizer expressions split each
# input, computed with the Python `regex` module (which has lookahead and
# \p{..} classes). The Go splitters are written by hand and checked against
# this file by TestPretokenizeGolden. Run: python3 pretokenize.py
import json
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

out = {name: [[s, regex.findall(e, s)] for s in INPUTS] for name, e in EXPRS.items()}
with open("pretokenize.json", "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)

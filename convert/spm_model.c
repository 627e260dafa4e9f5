#include "spm_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "mapfile.h"

/* Field numbers of sentencepiece_model.proto that are read. */
enum {
    MODEL_PIECES = 1, MODEL_TRAINER = 2, MODEL_NORMALIZER = 3,
    PIECE_TEXT = 1, PIECE_SCORE = 2, PIECE_TYPE = 3,
    TRAINER_MODEL_TYPE = 3, TRAINER_UNK = 40, TRAINER_BOS = 41, TRAINER_EOS = 42, TRAINER_PAD = 43,
    NORMALIZER_DUMMY_PREFIX = 3,
};

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* A cursor over protobuf bytes. */
typedef struct pb {
    const unsigned char *p, *end;
} pb;

/* One field: its number, wire type and value (varint or fixed-width
 * value in v, a length-delimited payload in sub). */
typedef struct pb_field {
    uint32_t num, wire;
    uint64_t v;
    pb sub;
} pb_field;

static bool varint(pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        unsigned char b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Reads the field at r, checking every length against the bytes left.
 * Groups (wire types 3 and 4, long deprecated) are refused. */
static llm_status next_field(pb *r, pb_field *f, const char *where, llm_error *err) {
    uint64_t key, len;
    if (!varint(r, &key)) return llm_fail(err, LLM_ERR_FORMAT, "%s: truncated field key", where);
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return llm_fail(err, LLM_ERR_FORMAT, "%s: invalid field number %llu", where, (unsigned long long)(key >> 3));
    size_t left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case WIRE_VARINT:
        if (!varint(r, &f->v)) return llm_fail(err, LLM_ERR_FORMAT, "%s: field %u: truncated varint", where, f->num);
        return LLM_OK;
    case WIRE_I64:
    case WIRE_I32: {
        int n = f->wire == WIRE_I64 ? 8 : 4;
        if (left < (size_t)n) return llm_fail(err, LLM_ERR_FORMAT, "%s: field %u: truncated", where, f->num);
        f->v = le(r->p, n);
        r->p += n;
        return LLM_OK;
    }
    case WIRE_LEN:
        if (!varint(r, &len) || len > (uint64_t)(r->end - r->p))
            return llm_fail(err, LLM_ERR_FORMAT, "%s: field %u: length exceeds the %zu bytes left", where, f->num,
                            (size_t)(r->end - r->p));
        f->sub = (pb){r->p, r->p + len};
        r->p += len;
        return LLM_OK;
    default:
        return llm_fail(err, LLM_ERR_FORMAT, "%s: field %u has unsupported wire type %u", where, f->num, f->wire);
    }
}

static llm_status want_wire(const pb_field *f, uint32_t wire, const char *where, const char *field,
                            llm_error *err) {
    if (f->wire == wire) return LLM_OK;
    return llm_fail(err, LLM_ERR_FORMAT, "%s: %s has wire type %u, expected %u", where, field, f->wire, wire);
}

/* One SentencePiece message: text (required), score (default 0), type
 * (default NORMAL). */
typedef struct piece {
    const unsigned char *text;
    size_t len;
    float score;
    int32_t type;
} piece;

static llm_status parse_piece(pb r, int32_t id, piece *out, llm_error *err) {
    char where[32];
    snprintf(where, sizeof where, "piece %d", id);
    *out = (piece){NULL, 0, 0.0f, 1};
    pb_field f;
    llm_status s;
    while (r.p < r.end) {
        if ((s = next_field(&r, &f, where, err))) return s;
        if (f.num == PIECE_TEXT) {
            if ((s = want_wire(&f, WIRE_LEN, where, "piece", err))) return s;
            out->text = f.sub.p;
            out->len = (size_t)(f.sub.end - f.sub.p);
        } else if (f.num == PIECE_SCORE) {
            if ((s = want_wire(&f, WIRE_I32, where, "score", err))) return s;
            uint32_t bits = (uint32_t)f.v;
            memcpy(&out->score, &bits, 4);
        } else if (f.num == PIECE_TYPE) {
            if ((s = want_wire(&f, WIRE_VARINT, where, "type", err))) return s;
            if (f.v < 1 || f.v > 6)
                return llm_fail(err, LLM_ERR_FORMAT, "%s: unknown type %llu", where, (unsigned long long)f.v);
            out->type = (int32_t)f.v;
        }
    }
    if (!out->text) return llm_fail(err, LLM_ERR_FORMAT, "%s: no piece text", where);
    if (out->len > LLM_MAX_STRING)
        return llm_fail(err, LLM_ERR_LIMIT, "%s: %zu bytes exceed the limit %u", where, out->len, LLM_MAX_STRING);
    if (memchr(out->text, 0, out->len)) return llm_fail(err, LLM_ERR_FORMAT, "%s: the text holds a NUL byte", where);
    return LLM_OK;
}

/* Reads the varint fields of a sub-message that are wanted: nums[i] goes
 * to vals[i] (the last occurrence wins, as protobuf merges). */
static llm_status parse_varints(pb r, const char *where, const uint32_t *nums, const char *const *names,
                                int64_t *vals, int n, llm_error *err) {
    pb_field f;
    while (r.p < r.end) {
        llm_status s = next_field(&r, &f, where, err);
        if (s) return s;
        for (int i = 0; i < n; i++) {
            if (f.num != nums[i]) continue;
            if ((s = want_wire(&f, WIRE_VARINT, where, names[i], err))) return s;
            vals[i] = (int64_t)f.v;
        }
    }
    return LLM_OK;
}

static llm_status parse_trainer(spm_model *m, pb r, llm_error *err) {
    static const uint32_t nums[] = {TRAINER_MODEL_TYPE, TRAINER_UNK, TRAINER_BOS, TRAINER_EOS, TRAINER_PAD};
    static const char *const names[] = {"model_type", "unk_id", "bos_id", "eos_id", "pad_id"};
    int64_t v[] = {m->model_type, m->unk_id, m->bos_id, m->eos_id, m->pad_id};
    llm_status s = parse_varints(r, "trainer_spec", nums, names, v, 5, err);
    if (s) return s;
    m->model_type = (int32_t)v[0];
    int32_t *ids[] = {&m->unk_id, &m->bos_id, &m->eos_id, &m->pad_id};
    for (int i = 0; i < 4; i++) *ids[i] = (int32_t)v[i + 1]; /* int32 varints: two's complement */
    return LLM_OK;
}

static llm_status parse_normalizer(spm_model *m, pb r, llm_error *err) {
    static const uint32_t nums[] = {NORMALIZER_DUMMY_PREFIX};
    static const char *const names[] = {"add_dummy_prefix"};
    int64_t v = m->add_dummy_prefix;
    llm_status s = parse_varints(r, "normalizer_spec", nums, names, &v, 1, err);
    m->add_dummy_prefix = v != 0;
    return s;
}

/* Walks the top-level fields. Without m->pieces it counts the pieces
 * (*n) and the bytes their text needs (*bytes); with them it copies. */
static llm_status walk(spm_model *m, pb r, int32_t *n, size_t *bytes, llm_error *err) {
    pb_field f;
    size_t pos = 0;
    int32_t id = 0;
    llm_status s;
    while (r.p < r.end) {
        if ((s = next_field(&r, &f, "model", err))) return s;
        if (f.num == MODEL_PIECES) {
            if ((s = want_wire(&f, WIRE_LEN, "model", "pieces", err))) return s;
            if (id >= LLM_MAX_VOCAB)
                return llm_fail(err, LLM_ERR_LIMIT, "more than %d pieces", LLM_MAX_VOCAB);
            piece pc;
            if ((s = parse_piece(f.sub, id, &pc, err))) return s;
            if (m->pieces) {
                memcpy(m->arena + pos, pc.text, pc.len);
                m->arena[pos + pc.len] = 0;
                m->pieces[id] = m->arena + pos;
                m->scores[id] = pc.score;
                m->types[id] = pc.type;
            }
            pos += pc.len + 1;
            id++;
        } else if (m->pieces && f.num == MODEL_TRAINER) {
            if ((s = want_wire(&f, WIRE_LEN, "model", "trainer_spec", err)) || (s = parse_trainer(m, f.sub, err)))
                return s;
        } else if (m->pieces && f.num == MODEL_NORMALIZER) {
            if ((s = want_wire(&f, WIRE_LEN, "model", "normalizer_spec", err)) ||
                (s = parse_normalizer(m, f.sub, err)))
                return s;
        }
    }
    *n = id;
    *bytes = pos;
    return LLM_OK;
}

static llm_status check_ids(const spm_model *m, llm_error *err) {
    const char *names[] = {"unk_id", "bos_id", "eos_id", "pad_id"};
    int32_t ids[] = {m->unk_id, m->bos_id, m->eos_id, m->pad_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= m->n)
            return llm_fail(err, LLM_ERR_FORMAT, "trainer_spec.%s %d is out of range for %d pieces", names[i], ids[i],
                            m->n);
    return LLM_OK;
}

static llm_status parse(spm_model *m, const unsigned char *data, size_t size, llm_error *err) {
    pb r = {data, size ? data + size : data}; /* an empty file maps to NULL: no NULL + 0 */
    int32_t n;
    size_t bytes;
    llm_status s = walk(m, r, &n, &bytes, err);
    if (s) return s;
    if (n == 0) return llm_fail(err, LLM_ERR_FORMAT, "no pieces: not a SentencePiece model");
    m->arena = llm_malloc(bytes);
    m->pieces = llm_calloc((size_t)n, sizeof *m->pieces);
    m->scores = llm_calloc((size_t)n, sizeof *m->scores);
    m->types = llm_calloc((size_t)n, sizeof *m->types);
    if (!m->arena || !m->pieces || !m->scores || !m->types)
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %d pieces", n);
    /* proto2 defaults of the fields read */
    m->model_type = 1;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = true;
    if ((s = walk(m, r, &m->n, &bytes, err))) return s;
    return check_ids(m, err);
}

llm_status spm_model_parse(spm_model *m, const void *data, size_t size, llm_error *err) {
    if (!m || (!data && size)) return llm_fail(err, LLM_ERR_INVALID_ARG, "spm_model_parse: NULL argument");
    memset(m, 0, sizeof *m);
    llm_status s = parse(m, data, size, err);
    if (s) spm_model_free(m);
    return s;
}

llm_status spm_model_open(spm_model *m, const char *path, llm_error *err) {
    if (!m || !path) return llm_fail(err, LLM_ERR_INVALID_ARG, "spm_model_open: NULL argument");
    llm_map map;
    llm_status s = llm_map_open(&map, path, err);
    if (s) return s;
    s = spm_model_parse(m, map.data, map.size, err);
    llm_map_close(&map);
    if (s) llm_error_prefix(err, path);
    return s;
}

void spm_model_free(spm_model *m) {
    if (!m) return;
    free(m->arena);
    free(m->pieces);
    free(m->scores);
    free(m->types);
    memset(m, 0, sizeof *m);
}

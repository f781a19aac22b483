/* The ms128v2 content fingerprint's inner loops (docs/provenance.md), compiled.
 *
 * Exactly the per-value hashes, row hashes and sums of the numpy code in
 * fingerprint.py, which stays the fallback and the reference: the two are
 * compared on random tables by tests/test_fingerprint.py. Only the buffer
 * protocol is used (Arrow buffers and numpy arrays both provide it); the GIL is
 * released while hashing; there is no global mutable state, so instances may be
 * used from several threads at once.
 *
 * A column is described by a tuple
 *     (kind, width, seed, multiplier, offset, validity, values, data)
 * kind:     0 all null, 1 fixed width (little-endian, `width` bytes), 2 float of
 *           `width` 2/4/8 bytes (NaNs made canonical), 3 boolean (bit-packed
 *           values), 4 string/binary with int32 offsets, 5 with int64 offsets,
 *           6 precomputed value hashes (uint64, nulls already applied);
 * offset:   the Arrow array's offset in elements (bits for booleans);
 * validity: the validity bitmap or None (no nulls);
 * values:   the value buffer (offsets for strings, the hashes for kind 6);
 * data:     the string data buffer or None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define ALWAYS_INLINE inline
#define PREFETCH(p) ((void)(p))
#endif
#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict
#endif

#define C1 0xFF51AFD7ED558CCDULL
#define C2 0xC4CEB9FE1A85EC53ULL
#define ROW_SEED1 0x165667B19E3779F9ULL
#define ROW_SEED2 0x27D4EB2F165667C5ULL
#define NULL_TAG 0x6E756C6C6E756C6CULL
#define WORD_STEP 0x9E3779B97F4A7C15ULL
#define LEN_STEP 0xC2B2AE3D27D4EB4FULL
#ifndef BLOCK
#define BLOCK 64 /* rows hashed at a time: all columns' streams advance together (see hash_rows) */
#endif
#if BLOCK < 1 || BLOCK > 64
#error "BLOCK must be 1..64: a block's validity and boolean bits are read as one 64-bit word"
#endif
#ifndef PREFETCH_BLOCKS
#define PREFETCH_BLOCKS 4 /* blocks ahead whose values are asked for */
#endif

/* The hot loops are compiled for x86-64-v4 (AVX-512) and v3 (AVX2) besides the baseline and the best is picked
 * when the module loads (GCC function multi-versioning). Integer arithmetic only: every version computes the
 * same hashes. Elsewhere the baseline build alone is used. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && defined(__linux__) && \
    defined(__GLIBC__) && !defined(UNISTORE_FPHASH_NO_CLONES)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif

enum { K_NULL = 0, K_FIXED = 1, K_FLOAT = 2, K_BOOL = 3, K_STR32 = 4, K_STR64 = 5, K_HASHES = 6 };

static inline uint64_t fmix64(uint64_t x) {
    x ^= x >> 33;
    x *= C1;
    x ^= x >> 33;
    x *= C2;
    x ^= x >> 33;
    return x;
}

/* k (1..8) bytes at p as a little-endian word, zero-extended (the host is little-endian: checked at import) */
static inline uint64_t load_le(const uint8_t *p, size_t k) {
    uint64_t w = 0;
    memcpy(&w, p, k);
    return w;
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Bits first..first+m (m <= 64) of a bitmap as one word, bit i = bit first+i, bits m..63 zero. Only the
 * (at most nine) bytes those bits live in are read, so it never reads past a bitmap that covers them. */
static inline uint64_t bits_at(const uint8_t *bitmap, Py_ssize_t first, Py_ssize_t m) {
    const uint8_t *p = bitmap + (first >> 3);
    const unsigned sh = (unsigned)(first & 7);
    const size_t nbytes = (size_t)((sh + (unsigned)m + 7) >> 3);
    uint64_t w = nbytes >= 8 ? load64(p) : load_le(p, nbytes), bits = w >> sh;
    if (nbytes > 8) bits |= (uint64_t)p[8] << (64 - sh); /* (sh > 0 here) */
    return m >= 64 ? bits : bits & ((1ULL << m) - 1);
}

typedef struct {
    int kind, width;
    uint64_t seed, mul, null_hash;
    uint64_t len_hash[17]; /* strings: the length term fmix64(seed + n * LEN_STEP) of n = 0..16 bytes */
    Py_ssize_t offset;
    Py_buffer validity, values, data;
    int have_validity, have_values, have_data;
} column;

static void column_release(column *c) {
    if (c->have_validity) PyBuffer_Release(&c->validity);
    if (c->have_values) PyBuffer_Release(&c->values);
    if (c->have_data) PyBuffer_Release(&c->data);
    c->have_validity = c->have_values = c->have_data = 0;
}

static int get_buffer(PyObject *obj, Py_buffer *view, int *have, const char *what) {
    if (obj == Py_None) return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "column %s: expected a buffer", what);
        return -1;
    }
    *have = 1;
    return 0;
}

/* Parse one column tuple and check its buffers are large enough for `length` values. 0 or -1 (error set). */
static int column_init(column *c, PyObject *spec, Py_ssize_t length) {
    PyObject *validity, *values, *data;
    unsigned long long seed, mul;
    memset(c, 0, sizeof(*c));
    if (!PyArg_ParseTuple(spec, "iiKKnOOO;a column is (kind, width, seed, multiplier, offset, validity, values, data)",
                          &c->kind, &c->width, &seed, &mul, &c->offset, &validity, &values, &data))
        return -1;
    c->seed = (uint64_t)seed;
    c->mul = (uint64_t)mul;
    c->null_hash = fmix64(c->seed ^ NULL_TAG);
    for (int n = 0; n <= 16; n++) c->len_hash[n] = fmix64(c->seed + (uint64_t)n * LEN_STEP);
    if (c->offset < 0 || c->kind < K_NULL || c->kind > K_HASHES) {
        PyErr_SetString(PyExc_ValueError, "column: bad kind or offset");
        return -1;
    }
    if (get_buffer(validity, &c->validity, &c->have_validity, "validity") < 0 ||
        get_buffer(values, &c->values, &c->have_values, "values") < 0 ||
        get_buffer(data, &c->data, &c->have_data, "data") < 0)
        goto fail;
    Py_ssize_t end = c->offset + length; /* elements (or bits) the column must cover */
    if (c->have_validity && c->validity.len < (end + 7) / 8) goto short_buffer;
    if (c->kind == K_NULL) return 0;
    if (!c->have_values) goto short_buffer;
    switch (c->kind) {
    case K_FIXED:
        if (c->width < 1 || c->width > (1 << 20)) goto bad_width;
        if (c->values.len / c->width < end) goto short_buffer;
        break;
    case K_FLOAT:
        if (c->width != 2 && c->width != 4 && c->width != 8) goto bad_width;
        if (c->values.len / c->width < end) goto short_buffer;
        break;
    case K_BOOL:
        if (c->values.len < (end + 7) / 8) goto short_buffer;
        break;
    case K_STR32:
        if (c->values.len / 4 < end + 1) goto short_buffer;
        break;
    case K_STR64:
        if (c->values.len / 8 < end + 1) goto short_buffer;
        break;
    case K_HASHES:
        if (c->values.len / 8 < end) goto short_buffer;
        break;
    }
    return 0;
bad_width:
    PyErr_Format(PyExc_ValueError, "column: unsupported width %d for kind %d", c->width, c->kind);
    goto fail;
short_buffer:
    PyErr_SetString(PyExc_ValueError, "column: a buffer is too short for the array's offset and length");
fail:
    column_release(c);
    return -1;
}

/* The value hashes of rows a..a+m (m <= BLOCK) into v[0..m); len is scratch of BLOCK words.
 * Returns 0, or -1 for string offsets outside the data. */
static ALWAYS_INLINE int column_values(const column *c, Py_ssize_t a, Py_ssize_t m,
                                                               uint64_t *restrict v, uint64_t *restrict len) {
    const uint64_t seed = c->seed;
    const uint8_t *vals = c->have_values ? (const uint8_t *)c->values.buf : NULL;
    const Py_ssize_t first = c->offset + a;
    const uint8_t *vb = c->have_validity ? (const uint8_t *)c->validity.buf : NULL;
    Py_ssize_t i;
    switch (c->kind) {
    case K_NULL:
        for (i = 0; i < m; i++) v[i] = c->null_hash;
        return 0;
    case K_FIXED: {
        const int w = c->width;
        if (w == 8) {
            const uint8_t *p = vals + first * 8;
            for (i = 0; i < m; i++) v[i] = fmix64(seed ^ load64(p + 8 * i));
        } else if (w == 4) {
            const uint8_t *p = vals + first * 4;
            for (i = 0; i < m; i++) {
                uint32_t x;
                memcpy(&x, p + 4 * i, 4);
                v[i] = fmix64(seed ^ (uint64_t)x);
            }
        } else if (w == 2) {
            const uint8_t *p = vals + first * 2;
            for (i = 0; i < m; i++) {
                uint16_t x;
                memcpy(&x, p + 2 * i, 2);
                v[i] = fmix64(seed ^ (uint64_t)x);
            }
        } else if (w == 1) {
            const uint8_t *p = vals + first;
            for (i = 0; i < m; i++) v[i] = fmix64(seed ^ (uint64_t)p[i]);
        } else if (w == 16) {
            const uint8_t *p = vals + first * 16;
            for (i = 0; i < m; i++) v[i] = fmix64(fmix64(seed ^ load64(p + 16 * i)) ^ load64(p + 16 * i + 8));
        } else {
            const uint8_t *p = vals + first * (Py_ssize_t)w;
            for (i = 0; i < m; i++, p += w) {
                uint64_t h = seed;
                int j;
                for (j = 0; j + 8 <= w; j += 8) h = fmix64(h ^ load64(p + j));
                if (j < w) h = fmix64(h ^ load_le(p + j, (size_t)(w - j)));
                v[i] = h;
            }
        }
        break;
    }
    case K_FLOAT:
        /* every NaN is the canonical quiet NaN; -0.0 keeps its bits */
        if (c->width == 8) {
            const uint8_t *p = vals + first * 8;
            for (i = 0; i < m; i++) {
                uint64_t x = load64(p + 8 * i);
                x = (x & 0x7FFFFFFFFFFFFFFFULL) > 0x7FF0000000000000ULL ? 0x7FF8000000000000ULL : x;
                v[i] = fmix64(seed ^ x);
            }
        } else if (c->width == 4) {
            const uint8_t *p = vals + first * 4;
            for (i = 0; i < m; i++) {
                uint32_t x;
                memcpy(&x, p + 4 * i, 4);
                x = (x & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC00000u : x;
                v[i] = fmix64(seed ^ (uint64_t)x);
            }
        } else {
            const uint8_t *p = vals + first * 2;
            for (i = 0; i < m; i++) {
                uint16_t x;
                memcpy(&x, p + 2 * i, 2);
                x = (x & 0x7FFFu) > 0x7C00u ? (uint16_t)0x7E00u : x;
                v[i] = fmix64(seed ^ (uint64_t)x);
            }
        }
        break;
    case K_BOOL: { /* branch-free: random booleans would mispredict a branch every other value */
        const uint64_t h0 = fmix64(seed), flip = h0 ^ fmix64(seed ^ 1), bits = bits_at(vals, first, m);
        for (i = 0; i < m; i++) v[i] = h0 ^ (flip & ((uint64_t)0 - ((bits >> i) & 1)));
        break;
    }
    case K_STR32:
    case K_STR64: {
        /* Branch-free passes over the block, which the compiler vectorises (gathers on AVX2/AVX-512), and a
         * scalar one for the rare long value:
         *  1. each value's offsets, widened, checked (as Arrow's own full validation does) and made lengths;
         *  2. a value of at most 16 bytes whose two words lie inside the data (the common case) leaves those
         *     words, masked to its own bytes, in w0/w1; any other value reads a harmless in-bounds word that
         *     is masked out again in pass 4;
         *  3. a longer value (or one at the very end of the data) sums its word hashes, scalar;
         *  4. the short values' words, the length and the final mixer.
         * Nulls are hashed as whatever their offsets span and replaced by the validity pass below. */
        const uint8_t *data = c->have_data ? (const uint8_t *)c->data.buf : NULL;
        const int64_t data_len = c->have_data ? (int64_t)c->data.len : 0;
        uint64_t w0[BLOCK], w1[BLOCK], lh[BLOCK], is_long[BLOCK], bad = 0, any_long = 0;
        int64_t at[BLOCK + 1];
        if (c->kind == K_STR64) {
            memcpy(at, vals + 8 * first, (size_t)(m + 1) * 8);
        } else {
            const uint8_t *p = vals + 4 * first;
            for (i = 0; i <= m; i++) {
                int32_t s;
                memcpy(&s, p + 4 * i, 4);
                at[i] = s;
            }
        }
        for (i = 0; i < m; i++) {
            const int64_t o0 = at[i], o1 = at[i + 1];
            bad |= (uint64_t)((o0 < 0) | (o1 < o0) | (o1 > data_len));
            /* (unsigned: bad offsets, refused after this pass, may be any two int64s) */
            const uint64_t n = (uint64_t)o1 - (uint64_t)o0, lng = (uint64_t)0 - (uint64_t)((n > 16) | (o0 > data_len - 16));
            len[i] = n;
            is_long[i] = lng;
            any_long |= lng;
        }
        if (bad) return -1;
        if (data_len >= 16) {
            for (i = 0; i < m; i++) {
                const uint64_t n = len[i];
                const int64_t from = at[i] & (int64_t)~is_long[i]; /* a long value reads the data's first word */
                const uint64_t b0 = n < 8 ? n : 8, b1 = n > 16 ? 8 : (n > 8 ? n - 8 : 0);
                w0[i] = load64(data + from) & (b0 >= 8 ? ~0ULL : (1ULL << (8 * b0)) - 1);
                w1[i] = load64(data + from + 8) & (b1 >= 8 ? ~0ULL : (1ULL << (8 * b1)) - 1);
                lh[i] = c->len_hash[n > 16 ? 16 : n]; /* a long value's is made in pass 3 */
            }
        } else {
            memset(w0, 0, (size_t)m * 8); /* every value is long here (o0 > data_len - 16) */
            memset(w1, 0, (size_t)m * 8);
        }
        if (any_long)
            for (i = 0; i < m; i++) {
                if (!is_long[i]) continue;
                const uint64_t n = len[i];
                const uint8_t *p = data + at[i];
                uint64_t sum = 0, key = seed, left = n;
                while (left >= 8) {
                    key += WORD_STEP;
                    sum += fmix64(load64(p) ^ key);
                    p += 8;
                    left -= 8;
                }
                if (left) { /* the last word: only the value's own bytes, zero-filled */
                    key += WORD_STEP;
                    uint64_t w = at[i] + (int64_t)(n - left) + 8 <= data_len ? load64(p) & (~0ULL >> (64 - 8 * left))
                                                                            : load_le(p, (size_t)left);
                    sum += fmix64(w ^ key);
                }
                v[i] = sum;
                lh[i] = fmix64(seed + n * LEN_STEP);
            }
        const uint64_t k1 = seed + WORD_STEP, k2 = seed + 2 * WORD_STEP;
        for (i = 0; i < m; i++) {
            const uint64_t n = len[i], lng = is_long[i];
            const uint64_t short_sum = (fmix64(w0[i] ^ k1) & ((uint64_t)0 - (n > 0))) +
                                       (fmix64(w1[i] ^ k2) & ((uint64_t)0 - (n > 8)));
            const uint64_t sum = (v[i] & lng) | (short_sum & ~lng);
            v[i] = fmix64(sum + lh[i]);
        }
        break;
    }
    case K_HASHES:
        memcpy(v, vals + first * 8, (size_t)m * 8);
        return 0; /* nulls already applied */
    }
    if (vb) { /* nulls: the block's validity bits as one word, then a branch-free select the compiler vectorises */
        const uint64_t bits = bits_at(vb, first, m), nh = c->null_hash;
        if (bits != (m >= 64 ? ~0ULL : (1ULL << m) - 1))
            for (i = 0; i < m; i++) {
                const uint64_t keep = (uint64_t)0 - ((bits >> i) & 1);
                v[i] = (v[i] & keep) | (nh & ~keep);
            }
    }
    return 0;
}

/* Ask for a column's values of rows a..a+m before they are needed: the next block's values stream in while
 * this block's other columns are hashed (the hardware prefetcher loses each column's stream between blocks). */
static ALWAYS_INLINE void column_prefetch(const column *c, Py_ssize_t a, Py_ssize_t m) {
    Py_ssize_t width;
    switch (c->kind) {
    case K_FIXED: case K_FLOAT: width = c->width; break;
    case K_HASHES: width = 8; break;
    case K_STR32: width = 4; break;
    case K_STR64: width = 8; break;
    default: return;
    }
    if (m <= 0) return;
    const char *p = (const char *)c->values.buf + (c->offset + a) * width;
    const char *end = p + m * width;
    for (; p < end; p += 64) PREFETCH(p);
}

static HOT int hash_values(const column *c, Py_ssize_t length, uint64_t *out) {
    uint64_t len[BLOCK];
    for (Py_ssize_t a = 0; a < length; a += BLOCK)
        if (column_values(c, a, length - a < BLOCK ? length - a : BLOCK, out + a, len) < 0) return -1;
    return 0;
}

/* Rows start..start+count of all columns: adds the lane sums to lanes[2] and the column sums to sums[ncols];
 * writes each row's (r1, r2) to out when given. 0, or -1 for bad string offsets.
 * A block is a few rows of every column in turn, so all columns' buffers stream in together. */
static HOT int hash_rows(const column *cols, Py_ssize_t ncols, Py_ssize_t start, Py_ssize_t count,
                         uint64_t *restrict sums, uint64_t *restrict lanes, uint64_t *restrict out) {
    uint64_t acc1[BLOCK], acc2[BLOCK], v[BLOCK], len[BLOCK];
    uint64_t lane1 = 0, lane2 = 0;
    for (Py_ssize_t a = 0; a < count; a += BLOCK) {
        Py_ssize_t m = count - a < BLOCK ? count - a : BLOCK, r;
        memset(acc1, 0, (size_t)m * 8);
        memset(acc2, 0, (size_t)m * 8);
        Py_ssize_t ahead = a + PREFETCH_BLOCKS * BLOCK; /* the rows to ask for now */
        Py_ssize_t next = ahead >= count ? 0 : (count - ahead < BLOCK ? count - ahead : BLOCK);
        for (Py_ssize_t c = 0; c < ncols; c++) {
            column_prefetch(&cols[c], start + ahead, next);
            if (column_values(&cols[c], start + a, m, v, len) < 0) return -1;
            const uint64_t mul = cols[c].mul;
            uint64_t s = 0;
            for (r = 0; r < m; r++) {
                acc1[r] += v[r];
                acc2[r] += v[r] * mul;
                s += v[r];
            }
            sums[c] += s;
        }
        for (r = 0; r < m; r++) {
            uint64_t r1 = fmix64(acc1[r] ^ ROW_SEED1), r2 = fmix64(acc2[r] ^ ROW_SEED2);
            lane1 += r1;
            lane2 += r2;
            if (out) {
                out[2 * (a + r)] = r1;
                out[2 * (a + r) + 1] = r2;
            }
        }
    }
    lanes[0] += lane1;
    lanes[1] += lane2;
    return 0;
}

static int get_writable(PyObject *obj, Py_buffer *view, Py_ssize_t need, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) < 0) return -1;
    if (view->len < need) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: buffer too short", what);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(hashes_doc,
"hashes(column, length, out)\n\n"
"The per-value hashes of a column of `length` values (nulls included) into the\n"
"writable uint64 buffer `out`.");

static PyObject *fphash_hashes(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *spec, *out_obj;
    Py_ssize_t length;
    column c;
    Py_buffer out;
    int rc;
    if (!PyArg_ParseTuple(args, "OnO", &spec, &length, &out_obj)) return NULL;
    if (length < 0) {
        PyErr_SetString(PyExc_ValueError, "length must be >= 0");
        return NULL;
    }
    if (column_init(&c, spec, length) < 0) return NULL;
    if (get_writable(out_obj, &out, length * 8, "out") < 0) {
        column_release(&c);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = hash_values(&c, length, (uint64_t *)out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    column_release(&c);
    if (rc < 0) {
        PyErr_SetString(PyExc_ValueError, "string offsets outside the data buffer");
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(update_doc,
"update(columns, length, start, count, ordered=None) -> (lane1, lane2, column_sums)\n\n"
"Hash rows start..start+count of a batch of `length` rows whose columns are\n"
"described by `columns` (a sequence of column tuples). Returns the batch's two\n"
"lane sums (sum of r1, sum of r2) and the per-column sums of value hashes, all\n"
"modulo 2^64. When `ordered` is a writable buffer of 2*count uint64, the rows'\n"
"(r1, r2) are written to it in row order.");

static PyObject *fphash_update(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *specs, *ordered_obj = Py_None, *seq = NULL, *result = NULL;
    Py_ssize_t length, start, count, ncols = 0, i;
    column *cols = NULL;
    uint64_t *sums = NULL, lanes[2] = {0, 0};
    Py_buffer ordered;
    int have_ordered = 0, bad = 0;

    if (!PyArg_ParseTuple(args, "Onnn|O", &specs, &length, &start, &count, &ordered_obj)) return NULL;
    if (length < 0 || start < 0 || count < 0 || start > length || count > length - start) {
        PyErr_SetString(PyExc_ValueError, "rows start..start+count must lie within 0..length");
        return NULL;
    }
    seq = PySequence_Fast(specs, "columns must be a sequence of column tuples");
    if (!seq) return NULL;
    ncols = PySequence_Fast_GET_SIZE(seq);
    cols = PyMem_Calloc((size_t)(ncols ? ncols : 1), sizeof(column));
    sums = PyMem_Calloc((size_t)(ncols ? ncols : 1), sizeof(uint64_t));
    if (!cols || !sums) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < ncols; i++) {
        if (column_init(&cols[i], PySequence_Fast_GET_ITEM(seq, i), length) < 0) {
            ncols = i; /* release only those initialised */
            goto done;
        }
    }
    if (ordered_obj != Py_None) {
        if (get_writable(ordered_obj, &ordered, count * 16, "ordered") < 0) goto done;
        have_ordered = 1;
    }

    Py_BEGIN_ALLOW_THREADS
    bad = hash_rows(cols, ncols, start, count, sums, lanes, have_ordered ? (uint64_t *)ordered.buf : NULL) < 0;
    Py_END_ALLOW_THREADS

    if (bad) {
        PyErr_SetString(PyExc_ValueError, "string offsets outside the data buffer");
        goto done;
    }
    PyObject *colsums = PyList_New(ncols);
    if (!colsums) goto done;
    for (i = 0; i < ncols; i++) {
        PyObject *x = PyLong_FromUnsignedLongLong(sums[i]);
        if (!x) {
            Py_DECREF(colsums);
            goto done;
        }
        PyList_SET_ITEM(colsums, i, x);
    }
    result = Py_BuildValue("KKN", (unsigned long long)lanes[0], (unsigned long long)lanes[1], colsums);
done:
    if (have_ordered) PyBuffer_Release(&ordered);
    if (cols)
        for (i = 0; i < ncols; i++) column_release(&cols[i]);
    PyMem_Free(cols);
    PyMem_Free(sums);
    Py_XDECREF(seq);
    return result;
}

static PyMethodDef fphash_methods[] = {
    {"update", fphash_update, METH_VARARGS, update_doc},
    {"hashes", fphash_hashes, METH_VARARGS, hashes_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fphash_module = {
    PyModuleDef_HEAD_INIT, "unistore._fphash",
    "Compiled inner loops of the ms128v2 content fingerprint (see unistore.fingerprint).", -1, fphash_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fphash(void) {
#if !PY_LITTLE_ENDIAN
    PyErr_SetString(PyExc_ImportError, "unistore._fphash assumes a little-endian host; the numpy code is used");
    return NULL;
#else
    PyObject *m = PyModule_Create(&fphash_module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "BLOCK", BLOCK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
#endif
}

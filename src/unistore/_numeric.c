/* Decimal text -> Arrow decimal128, compiled: PostgreSQL's numeric(p,s) columns arrive from the ADBC
 * driver as text, and Arrow's general string -> decimal cast was about 5% of a whole PostgreSQL read.
 *
 * One function, parse(offsets, data, validity, offset, length, precision, scale, out) -> bool.
 * It parses only the plain form the driver writes (-?[0-9]+(.[0-9]+)?) and returns False, having
 * written nothing the caller keeps, for anything else: other spellings (exponents, NaN, Infinity,
 * spaces), more integer digits than precision - scale, a non-zero digit beyond `scale`, or more than
 * 38 digits in all (Arrow refuses those even when the extra digits are zeros). The caller
 * then runs Arrow's cast, so results and errors are always Arrow's own; the kernel is only faster.
 *
 * offsets:  the string array's int32 offsets buffer (length + offset + 1 entries used);
 * data:     its character data;
 * validity: its validity bitmap, or None (no nulls); null slots are written as 0;
 * offset:   the array's offset in elements; out is written at [offset, offset + length);
 * out:      a writable buffer of at least (offset + length) * 16 bytes (little-endian int128).
 * The GIL is released while parsing; there is no global mutable state.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if !defined(__SIZEOF_INT128__)
#error "the decimal kernel needs a compiler with __int128 (GCC, Clang)"
#endif

typedef __int128 i128;

/* 1: parsed; 0: not the plain form (the caller casts with Arrow); -1: offsets outside the data. */
static int parse_all(const int32_t *offsets, const char *data, Py_ssize_t data_len, const uint8_t *validity,
                     Py_ssize_t offset, Py_ssize_t length, int precision, int scale, i128 *out) {
    i128 pow10[39];
    pow10[0] = 1;
    for (int i = 1; i < 39; i++) pow10[i] = pow10[i - 1] * 10;
    const int max_int_digits = precision - scale;
    for (Py_ssize_t i = offset; i < offset + length; i++) {
        if (validity && !((validity[i >> 3] >> (i & 7)) & 1)) {
            out[i] = 0;
            continue;
        }
        if (offsets[i] < 0 || offsets[i] > offsets[i + 1] || offsets[i + 1] > data_len) return -1;
        const char *p = data + offsets[i], *end = data + offsets[i + 1];
        /* the plain form only: -?[0-9]+(\.[0-9]+)? */
        int negative = p < end && *p == '-';
        p += negative;
        if (p == end || *p < '0' || *p > '9') return 0;
        /* Arrow refuses text of more than 38 digits even when the extra ones are zeros: leave those to it */
        if ((end - p) - (memchr(p, '.', (size_t)(end - p)) != NULL) > 38) return 0;
        while (p < end && *p == '0') p++;  /* leading zeros count for nothing */
        /* digits gather in 64 bits while they fit (18 of them), in 128 after */
        uint64_t small = 0;
        i128 value = 0;
        int digits = 0, int_digits = 0, frac_digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (++int_digits > max_int_digits) return 0;
            if (++digits <= 18) small = small * 10 + (uint64_t)(*p - '0');
            else value = value * 10 + (*p - '0');
            p++;
        }
        if (p < end && *p == '.') {
            p++;
            if (p == end) return 0;
            while (p < end && *p >= '0' && *p <= '9') {
                if (frac_digits < scale) {
                    if (++digits <= 18) small = small * 10 + (uint64_t)(*p - '0');
                    else value = value * 10 + (*p - '0');
                    frac_digits++;
                } else if (*p != '0') {
                    return 0;  /* would lose a digit: Arrow's cast reports it */
                }
                p++;
            }
        }
        if (digits <= 18) value = (i128)small;
        else value += (i128)small * pow10[digits - 18];
        if (p != end) return 0;
        value *= pow10[scale - frac_digits];
        out[i] = negative ? -value : value;
    }
    return 1;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    PyObject *offsets_obj, *data_obj, *validity_obj, *out_obj;
    Py_ssize_t offset, length;
    int precision, scale;
    if (!PyArg_ParseTuple(args, "OOOnniiO", &offsets_obj, &data_obj, &validity_obj, &offset, &length,
                          &precision, &scale, &out_obj))
        return NULL;
    if (precision < 1 || precision > 38 || scale < 0 || scale > precision) {
        PyErr_SetString(PyExc_ValueError, "precision must be 1..38, 0 <= scale <= precision");
        return NULL;
    }
    /* the buffer sizes below are products of these: keep them from wrapping around */
    if (offset < 0 || length < 0 || offset > PY_SSIZE_T_MAX / 16 - length - 1) {
        PyErr_SetString(PyExc_ValueError, "offset and length must be non-negative and describe a real array");
        return NULL;
    }
    Py_buffer offsets = {0}, data = {0}, validity = {0}, out = {0};
    int ok = 0, have_validity = validity_obj != Py_None;
    if (PyObject_GetBuffer(offsets_obj, &offsets, PyBUF_SIMPLE) < 0) goto done;
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0) goto done;
    if (have_validity && PyObject_GetBuffer(validity_obj, &validity, PyBUF_SIMPLE) < 0) goto done;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_WRITABLE) < 0) goto done;
    if (offsets.len < (Py_ssize_t)sizeof(int32_t) * (offset + length + 1) ||
        out.len < 16 * (offset + length) || (have_validity && validity.len * 8 < offset + length)) {
        PyErr_SetString(PyExc_ValueError, "a buffer is shorter than the array it describes");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    ok = parse_all((const int32_t *)offsets.buf, (const char *)data.buf, data.len,
                   have_validity ? (const uint8_t *)validity.buf : NULL, offset, length, precision, scale,
                   (i128 *)out.buf);
    Py_END_ALLOW_THREADS
    if (ok < 0) {
        PyErr_SetString(PyExc_ValueError, "string offsets point outside the data buffer");
        goto done;
    }
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    if (have_validity) PyBuffer_Release(&validity);
    PyBuffer_Release(&out);
    return PyBool_FromLong(ok);
done:
    if (offsets.obj) PyBuffer_Release(&offsets);
    if (data.obj) PyBuffer_Release(&data);
    if (validity.obj) PyBuffer_Release(&validity);
    if (out.obj) PyBuffer_Release(&out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, "Parse decimal text into decimal128 values; False: leave it to Arrow."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_numeric", "Decimal text to decimal128.", -1, methods};

PyMODINIT_FUNC PyInit__numeric(void) { return PyModule_Create(&module); }

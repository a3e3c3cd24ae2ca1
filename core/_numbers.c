/* core._numbers: the draw's hot loops over 64-bit integers, in C.
 *
 * Why: a draw's pool scan returns ~50,000 numbers joined by ',' in one text, and the ranking
 * hashes ~43,000 public codes ('E' and the id, zero-padded) joined the same way, then sorts
 * their digests' leading words. numpy parses the one (np.fromstring, ~24 ns a number), formats
 * the other (one vectorised pass per digit, ~17 ns a code) and sorts (~25 ns a word here); a
 * plain C loop does each in a few ns. core.draw falls back to numpy when this module was not
 * built (no C compiler at install): same results, tests compare both.
 *
 * parse_ints(text, sep=44) -> bytearray
 *   The integers of `text` (str or bytes: optional '-', decimal digits, separated by the
 *   byte `sep`), as native int64 values, 8 bytes each; an empty text holds none. ValueError
 *   on anything else (an empty item, a stray character, a value outside int64).
 *
 * format_ints(values, prefix=b"", width=1, sep=44) -> bytes
 *   `values` (a C-contiguous buffer of native int64, e.g. a numpy int64 array, all >= 0):
 *   prefix + decimal zero-padded to `width` digits, for each, joined by `sep`.
 *
 * sort_words(words) -> None
 *   Sorts a writable C-contiguous buffer of native uint64 (a numpy uint64 array) in place,
 *   ascending: an LSD radix sort, six passes of 11 bits, without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *parse_ints(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"text", "sep", NULL};
    PyObject *text, *result;
    int sep = ',';
    const char *p, *end;
    Py_ssize_t len, n, i;
    int64_t *out;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|i:parse_ints", kwlist, &text, &sep))
        return NULL;
    if (sep < 0 || sep > 255) {
        PyErr_SetString(PyExc_ValueError, "sep must be a byte value (0-255)");
        return NULL;
    }
    if (PyUnicode_Check(text)) {
        p = PyUnicode_AsUTF8AndSize(text, &len);
        if (p == NULL)
            return NULL;
    } else if (PyBytes_Check(text)) {
        p = PyBytes_AS_STRING(text);
        len = PyBytes_GET_SIZE(text);
    } else {
        PyErr_SetString(PyExc_TypeError, "text must be str or bytes");
        return NULL;
    }
    end = p + len;
    n = 0;
    if (len > 0) {
        n = 1;
        for (i = 0; i < len; i++)
            n += p[i] == (char)sep;
    }
    result = PyByteArray_FromStringAndSize(NULL, 8 * n);
    if (result == NULL)
        return NULL;
    out = (int64_t *)PyByteArray_AS_STRING(result);
    for (i = 0; i < n; i++) {
        int negative = 0, digits = 0;
        uint64_t v = 0, limit;
        if (p < end && *p == '-') {
            negative = 1;
            p++;
        }
        limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        while (p < end && *p != (char)sep) {
            unsigned d = (unsigned char)*p - '0';
            if (d > 9 || (digits >= 18 && v > (limit - d) / 10)) /* 18 digits cannot overflow */
                goto bad;
            v = v * 10 + d;
            digits++;
            p++;
        }
        if (digits == 0)
            goto bad;
        out[i] = negative ? (int64_t)(0 - v) : (int64_t)v;
        p++; /* the separator (or one past the end, after the last item) */
    }
    return result;
bad:
    Py_DECREF(result);
    PyErr_Format(PyExc_ValueError, "item %zd is not an int64 (items separated by byte %d)", i, sep);
    return NULL;
}

static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t POW10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

/* Writes v in decimal, zero-padded to `width` digits, at `out`; returns the end. */
static char *write_decimal(char *out, uint64_t v, Py_ssize_t width)
{
    Py_ssize_t digits = 1;
    char *end, *p;
    while (digits < 20 && v >= POW10[digits])
        digits++;
    end = out + (digits > width ? digits : width);
    p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        p[0] = DIGIT_PAIRS[2 * r];
        p[1] = DIGIT_PAIRS[2 * r + 1];
    }
    if (v >= 10) {
        p -= 2;
        p[0] = DIGIT_PAIRS[2 * v];
        p[1] = DIGIT_PAIRS[2 * v + 1];
    } else {
        *--p = (char)('0' + v);
    }
    while (p > out)
        *--p = '0';
    return end;
}

/* Items of native 64-bit integers: `code` 'q' (signed) or 'Q' (unsigned), or 'l' / 'L' where
 * long has 64 bits (numpy's int64 and uint64 on Linux). */
static int is_native64(const Py_buffer *b, char code)
{
    const char *format = b->format ? b->format : "B";
    char as_long = code == 'q' ? 'l' : 'L';
    if (format[0] == '@' || format[0] == '=')
        format++;
    return b->itemsize == 8 && strlen(format) == 1
        && (format[0] == code || (format[0] == as_long && sizeof(long) == 8));
}

static PyObject *format_ints(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"values", "prefix", "width", "sep", NULL};
    Py_buffer values, prefix = {0};
    Py_ssize_t width = 1, n, i, cap;
    int sep = ',', release;
    PyObject *obj, *result = NULL;
    PyThreadState *save = NULL;
    const int64_t *v;
    char *out;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|y*ni:format_ints", kwlist, &obj, &prefix, &width, &sep))
        return NULL;
    if (PyObject_GetBuffer(obj, &values, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        if (prefix.obj != NULL)
            PyBuffer_Release(&prefix);
        return NULL;
    }
    if (sep < 0 || sep > 255 || width < 1 || width > 20) {
        PyErr_SetString(PyExc_ValueError, "sep must be a byte value and width 1 to 20");
        goto done;
    }
    if (!is_native64(&values, 'q')) {
        PyErr_SetString(PyExc_ValueError, "values must be a contiguous buffer of native int64");
        goto done;
    }
    n = values.len / 8;
    v = (const int64_t *)values.buf;
    /* Large inputs are formatted without the GIL (a draw writes its ranking's texts on the
     * hashing thread while the event loop's thread works on); for small ones the hand-over
     * would cost more than it frees. */
    release = n >= 1024;
    /* The exact length first: a second pass is cheaper than over-allocating and shrinking. */
    cap = n > 0 ? n * (prefix.len + 1) - 1 : 0;
    if (release)
        save = PyEval_SaveThread();
    for (i = 0; i < n; i++) {
        Py_ssize_t digits = 1;
        if (v[i] < 0)
            break;
        while (digits < 20 && (uint64_t)v[i] >= POW10[digits])
            digits++;
        cap += digits > width ? digits : width;
    }
    if (release)
        PyEval_RestoreThread(save);
    if (i < n) {
        PyErr_Format(PyExc_ValueError, "negative value %lld at %zd", (long long)v[i], i);
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, cap);
    if (result == NULL)
        goto done;
    out = PyBytes_AS_STRING(result);
    if (release)
        save = PyEval_SaveThread();
    for (i = 0; i < n; i++) {
        const char *pre = prefix.buf;
        Py_ssize_t k;
        if (i > 0)
            *out++ = (char)sep;
        for (k = 0; k < prefix.len; k++)
            *out++ = pre[k];
        out = write_decimal(out, (uint64_t)v[i], width);
    }
    if (release)
        PyEval_RestoreThread(save);
done:
    PyBuffer_Release(&values);
    if (prefix.obj != NULL)
        PyBuffer_Release(&prefix);
    return result;
}

#define RADIX_BITS 11
#define RADIX_PASSES 6 /* 6 x 11 >= 64 */
#define RADIX_SIZE (1 << RADIX_BITS)

static PyObject *sort_words(PyObject *self, PyObject *arg)
{
    Py_buffer b;
    Py_ssize_t n, i;
    uint64_t *a, *tmp, *src, *dst;
    size_t (*counts)[RADIX_SIZE];
    int pass;

    if (PyObject_GetBuffer(arg, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (!is_native64(&b, 'Q')) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "words must be a writable contiguous buffer of native uint64");
        return NULL;
    }
    n = b.len / 8;
    a = (uint64_t *)b.buf;
    if (n < 2) {
        PyBuffer_Release(&b);
        Py_RETURN_NONE;
    }
    tmp = PyMem_RawMalloc((size_t)n * sizeof *tmp);
    counts = PyMem_RawCalloc(RADIX_PASSES, sizeof *counts);
    if (tmp == NULL || counts == NULL) {
        PyMem_RawFree(tmp);
        PyMem_RawFree(counts);
        PyBuffer_Release(&b);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++)
        for (pass = 0; pass < RADIX_PASSES; pass++)
            counts[pass][(a[i] >> (pass * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    src = a;
    dst = tmp;
    for (pass = 0; pass < RADIX_PASSES; pass++) {
        size_t *c = counts[pass], sum = 0;
        int shift = pass * RADIX_BITS, d;
        if (c[(src[0] >> shift) & (RADIX_SIZE - 1)] == (size_t)n)
            continue; /* every word has this digit: the pass would change nothing */
        for (d = 0; d < RADIX_SIZE; d++) {
            size_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (i = 0; i < n; i++)
            dst[c[(src[i] >> shift) & (RADIX_SIZE - 1)]++] = src[i];
        src = dst;
        dst = src == a ? tmp : a;
    }
    if (src != a)
        memcpy(a, src, (size_t)n * sizeof *a);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(tmp);
    PyMem_RawFree(counts);
    PyBuffer_Release(&b);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"parse_ints", (PyCFunction)(void (*)(void))parse_ints, METH_VARARGS | METH_KEYWORDS,
     "parse_ints(text, sep=44) -> bytearray\n\n"
     "The integers of `text` (str or bytes, separated by the byte `sep`; empty: none) as native\n"
     "int64 values. ValueError on an empty item, a stray character or a value outside int64."},
    {"format_ints", (PyCFunction)(void (*)(void))format_ints, METH_VARARGS | METH_KEYWORDS,
     "format_ints(values, prefix=b'', width=1, sep=44) -> bytes\n\n"
     "prefix + decimal zero-padded to `width` digits of each value of `values` (a contiguous\n"
     "buffer of native int64, all >= 0), joined by the byte `sep`."},
    {"sort_words", (PyCFunction)sort_words, METH_O,
     "sort_words(words) -> None\n\n"
     "Sorts `words` (a writable contiguous buffer of native uint64) in place, ascending."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "core._numbers", NULL, -1, methods};

PyMODINIT_FUNC PyInit__numbers(void)
{
    return PyModule_Create(&module);
}

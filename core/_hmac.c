/* core._hmac: HMAC-SHA256 of many short messages under one key, in one call.
 *
 * Why: a draw ranks ~43,000 public codes by HMAC-SHA256(seed, code) (docs/draw.md). In Python
 * each code costs six method calls on hashlib objects (~0.6 us); the two SHA-256 compressions
 * it needs take ~70 ns with the CPU's SHA extensions. Here the loop runs in C, without the GIL,
 * on one of the paths this CPU has (runtime check; core.draw.hmac_path times them and takes
 * the fastest, which depends on the CPU: AVX-512 beat SHA-NI by ~1.45x on a Sapphire Rapids):
 *   sha-ni    the SHA extensions, two short codes at a time (their rounds overlap: ~1.5x);
 *   avx512    16 short codes at a time, one per 32-bit lane of a 512-bit register;
 *   avx2      8 at a time in 256-bit registers (_hmac_lanes.h holds both widths' code);
 *   portable  one at a time in plain C (FIPS 180-4), for any CPU and for longer messages.
 * Without SHA extensions the lanes matter: 21,500 codes took 30.4 ms portable, 4.7 ms with
 * AVX2 and 2.2 ms with AVX-512 on the Xeon this was written on. Same function, same bytes:
 * tests compare every path with Python's hmac module.
 *
 * hmac_sha256(key, msgs, sep=44, path=None) -> bytes
 *   msgs is one buffer of messages separated by the byte `sep` (',' by default: how the
 *   draw already formats its codes); an empty buffer holds no message. Returns the 32-byte
 *   digests, concatenated in message order. `path` is one of PATHS (this CPU's paths, the
 *   SHA extensions first, then the widest lanes); by default the first.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_PATHS 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

typedef void (*compress_fn)(uint32_t state[8], const uint8_t *block);

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* The padded single block of a message of at most 55 bytes after the 64-byte keyed state: the
 * message, 0x80, zeros, its length in bits (64 + len) * 8, big-endian. */
static inline void short_padded(const uint8_t *msg, size_t len, uint8_t block[64])
{
    uint64_t bits = (64 + (uint64_t)len) * 8;
    int i;

    memset(block, 0, 64);
    memcpy(block, msg, len);
    block[len] = 0x80;
    for (i = 0; i < 8; i++)
        block[63 - i] = (uint8_t)(bits >> (8 * i));
}

/* --- portable C (FIPS 180-4 § 6.2.2) ------------------------------------------------------ */

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_portable(uint32_t state[8], const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = get_be32(p + 4 * i);
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = state[0]; b = state[1]; c = state[2]; d = state[3];
    e = state[4]; f = state[5]; g = state[6]; h = state[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}


/* --- SHA-NI (the x86 SHA extensions), after Intel's published reference -------------------- */

#ifdef HAVE_X86_PATHS
#define SHANI __attribute__((target("sha,sse4.1")))

/* The state in the two registers the SHA-NI rounds use: ABEF and CDGH. */
SHANI static inline void state_to_regs(const uint32_t state[8], __m128i *abef, __m128i *cdgh)
{
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1); /* CDAB */
    __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B); /* EFGH */
    *abef = _mm_alignr_epi8(tmp, efgh, 8);
    *cdgh = _mm_blend_epi16(efgh, tmp, 0xF0);
}

/* Back to words in order: lanes (A, B, C, D) and (E, F, G, H), lane 0 first. */
SHANI static inline void regs_to_words(__m128i abef, __m128i cdgh, __m128i *abcd, __m128i *efgh)
{
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    *abcd = _mm_blend_epi16(feba, dchg, 0xF0);
    *efgh = _mm_alignr_epi8(dchg, feba, 8);
}

/* One block's 64 rounds; m0..m3 hold its 16 words (lane 0 first, as numbers). */
SHANI static inline void rounds(__m128i *abef, __m128i *cdgh, __m128i m0, __m128i m1, __m128i m2, __m128i m3)
{
    __m128i s0 = *abef, s1 = *cdgh, msg, m[4] = {m0, m1, m2, m3};
    int i;
#pragma GCC unroll 16
    for (i = 0; i < 16; i++) { /* four rounds each */
        if (i >= 4) { /* W[4i..4i+3] from the four previous groups, m[i % 4] holding W[4i-16..] */
            __m128i w = _mm_sha256msg1_epu32(m[i % 4], m[(i + 1) % 4]);
            w = _mm_add_epi32(w, _mm_alignr_epi8(m[(i + 3) % 4], m[(i + 2) % 4], 4));
            m[i % 4] = _mm_sha256msg2_epu32(w, m[(i + 3) % 4]);
        }
        msg = _mm_add_epi32(m[i % 4], _mm_loadu_si128((const __m128i *)&K[4 * i]));
        s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
    }
    *abef = _mm_add_epi32(*abef, s0);
    *cdgh = _mm_add_epi32(*cdgh, s1);
}

#define BSWAP32_LANES _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL)

/* One block's rounds from its 64 bytes (big-endian words). */
SHANI static inline void rounds_bytes(__m128i *abef, __m128i *cdgh, const uint8_t *p)
{
    const __m128i swap = BSWAP32_LANES;
    rounds(abef, cdgh, _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), swap),
           _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), swap),
           _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), swap),
           _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), swap));
}

SHANI static void compress_shani(uint32_t state[8], const uint8_t *p)
{
    __m128i abef, cdgh, abcd, efgh;
    state_to_regs(state, &abef, &cdgh);
    rounds_bytes(&abef, &cdgh, p);
    regs_to_words(abef, cdgh, &abcd, &efgh);
    _mm_storeu_si128((__m128i *)&state[0], abcd);
    _mm_storeu_si128((__m128i *)&state[4], efgh);
}

/* `short_padded` as four registers of big-endian words. */
SHANI static inline void short_block(const uint8_t *msg, size_t len, __m128i m[4])
{
    const __m128i swap = BSWAP32_LANES;
    uint8_t block[64];
    int i;

    short_padded(msg, len, block);
    for (i = 0; i < 4; i++)
        m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16 * i)), swap);
}

/* Two messages' rounds at once: their instructions are independent, so the CPU overlaps them
 * (a single block's rounds wait on each other's results most of the time). */
SHANI static inline void rounds_x2(__m128i *abef_a, __m128i *cdgh_a, __m128i *ma, __m128i *abef_b, __m128i *cdgh_b,
                                   __m128i *mb)
{
    __m128i s0a = *abef_a, s1a = *cdgh_a, s0b = *abef_b, s1b = *cdgh_b, msg_a, msg_b, k;
    int i;
#pragma GCC unroll 16
    for (i = 0; i < 16; i++) {
        if (i >= 4) {
            __m128i wa = _mm_sha256msg1_epu32(ma[i % 4], ma[(i + 1) % 4]);
            __m128i wb = _mm_sha256msg1_epu32(mb[i % 4], mb[(i + 1) % 4]);
            wa = _mm_add_epi32(wa, _mm_alignr_epi8(ma[(i + 3) % 4], ma[(i + 2) % 4], 4));
            wb = _mm_add_epi32(wb, _mm_alignr_epi8(mb[(i + 3) % 4], mb[(i + 2) % 4], 4));
            ma[i % 4] = _mm_sha256msg2_epu32(wa, ma[(i + 3) % 4]);
            mb[i % 4] = _mm_sha256msg2_epu32(wb, mb[(i + 3) % 4]);
        }
        k = _mm_loadu_si128((const __m128i *)&K[4 * i]);
        msg_a = _mm_add_epi32(ma[i % 4], k);
        msg_b = _mm_add_epi32(mb[i % 4], k);
        s1a = _mm_sha256rnds2_epu32(s1a, s0a, msg_a);
        s1b = _mm_sha256rnds2_epu32(s1b, s0b, msg_b);
        s0a = _mm_sha256rnds2_epu32(s0a, s1a, _mm_shuffle_epi32(msg_a, 0x0E));
        s0b = _mm_sha256rnds2_epu32(s0b, s1b, _mm_shuffle_epi32(msg_b, 0x0E));
    }
    *abef_a = _mm_add_epi32(*abef_a, s0a);
    *cdgh_a = _mm_add_epi32(*cdgh_a, s1a);
    *abef_b = _mm_add_epi32(*abef_b, s0b);
    *cdgh_b = _mm_add_epi32(*cdgh_b, s1b);
}

/* HMAC of two messages of at most 55 bytes at once (one block after the keyed state), kept in
 * registers from the keyed states to the digests: an inner digest's words are its outer block's. */
SHANI static void shani_hmac_short(const uint32_t inner[8], const uint32_t outer[8], const uint8_t *const msg[],
                                   const size_t len[], uint8_t *const out[])
{
    const __m128i swap = BSWAP32_LANES;
    uint8_t *out_a = out[0], *out_b = out[1];
    __m128i ma[4], mb[4], abef_a, cdgh_a, abef_b, cdgh_b, in_abef, in_cdgh, out_abef, out_cdgh;

    short_block(msg[0], len[0], ma);
    short_block(msg[1], len[1], mb);
    state_to_regs(inner, &in_abef, &in_cdgh);
    state_to_regs(outer, &out_abef, &out_cdgh);
    abef_a = abef_b = in_abef;
    cdgh_a = cdgh_b = in_cdgh;
    rounds_x2(&abef_a, &cdgh_a, ma, &abef_b, &cdgh_b, mb);
    /* The outer blocks: each inner digest, 0x80, zeros, the length (64 + 32) * 8. */
    regs_to_words(abef_a, cdgh_a, &ma[0], &ma[1]);
    regs_to_words(abef_b, cdgh_b, &mb[0], &mb[1]);
    ma[2] = mb[2] = _mm_set_epi32(0, 0, 0, (int)0x80000000);
    ma[3] = mb[3] = _mm_set_epi32(768, 0, 0, 0);
    abef_a = abef_b = out_abef;
    cdgh_a = cdgh_b = out_cdgh;
    rounds_x2(&abef_a, &cdgh_a, ma, &abef_b, &cdgh_b, mb);
    regs_to_words(abef_a, cdgh_a, &ma[0], &ma[1]);
    regs_to_words(abef_b, cdgh_b, &mb[0], &mb[1]);
    _mm_storeu_si128((__m128i *)out_a, _mm_shuffle_epi8(ma[0], swap));
    _mm_storeu_si128((__m128i *)(out_a + 16), _mm_shuffle_epi8(ma[1], swap));
    _mm_storeu_si128((__m128i *)out_b, _mm_shuffle_epi8(mb[0], swap));
    _mm_storeu_si128((__m128i *)(out_b + 16), _mm_shuffle_epi8(mb[1], swap));
}

static int cpu_has_shani(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1; /* CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29] */
}

/* --- many short messages at once, one per lane of the vector registers -------------------- */

#define LANES 8
#define LANE_TARGET __attribute__((target("avx2")))
#define LANE_FN(x) avx2_##x
#include "_hmac_lanes.h"
#undef LANES
#undef LANE_TARGET
#undef LANE_FN

#define LANES 16
#define LANE_TARGET __attribute__((target("avx512f")))
#define LANE_FN(x) avx512_##x
#include "_hmac_lanes.h"
#undef LANES
#undef LANE_TARGET
#undef LANE_FN
#endif

/* --- HMAC ------------------------------------------------------------------------------- */

/* SHA-256 from `state` (after `prefix` bytes already compressed) over msg[0..len), into out. */
static void finish(compress_fn compress, const uint32_t start[8], uint64_t prefix, const uint8_t *msg, size_t len,
                   uint8_t out[32])
{
    uint32_t st[8];
    uint8_t block[128];
    size_t tail, padded;
    uint64_t bits = (prefix + (uint64_t)len) * 8;
    int i;

    memcpy(st, start, sizeof st);
    while (len >= 64) {
        compress(st, msg);
        msg += 64;
        len -= 64;
    }
    tail = len;
    padded = tail < 56 ? 64 : 128;
    memcpy(block, msg, tail);
    block[tail] = 0x80;
    memset(block + tail + 1, 0, padded - tail - 1);
    for (i = 0; i < 8; i++)
        block[padded - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress(st, block);
    if (padded == 128)
        compress(st, block + 64);
    for (i = 0; i < 8; i++)
        put_be32(out + 4 * i, st[i]);
}

/* The two keyed states of RFC 2104: SHA-256 after one block of K^ipad and of K^opad. */
static void keyed_states(compress_fn compress, const uint8_t *key, size_t klen, uint32_t inner[8], uint32_t outer[8])
{
    uint8_t k[64], block[64];
    int i;
    memset(k, 0, sizeof k);
    if (klen > 64)
        finish(compress, IV, 0, key, klen, k);
    else
        memcpy(k, key, klen);
    memcpy(inner, IV, 32);
    memcpy(outer, IV, 32);
    for (i = 0; i < 64; i++)
        block[i] = k[i] ^ 0x36;
    compress(inner, block);
    for (i = 0; i < 64; i++)
        block[i] = k[i] ^ 0x5c;
    compress(outer, block);
}

/* --- the paths -------------------------------------------------------------------------- */

/* HMAC of `lanes` messages of at most 55 bytes each. */
typedef void (*batch_fn)(const uint32_t inner[8], const uint32_t outer[8], const uint8_t *const msg[],
                         const size_t len[], uint8_t *const out[]);

struct path {
    const char *name;
    compress_fn compress; /* for the keyed states and for longer messages */
    batch_fn batch;       /* for messages of at most 55 bytes, `lanes` at a time; NULL: one by one */
    int lanes;
};

#define MAX_LANES 16

/* The paths this CPU can run, likeliest fastest first; the first is the default. */
static struct path paths[4];
static int n_paths;

static void find_paths(void)
{
#ifdef HAVE_X86_PATHS
    if (cpu_has_shani())
        paths[n_paths++] = (struct path){"sha-ni", compress_shani, shani_hmac_short, 2};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        paths[n_paths++] = (struct path){"avx512", compress_portable, avx512_hmac_short, 16};
    if (__builtin_cpu_supports("avx2"))
        paths[n_paths++] = (struct path){"avx2", compress_portable, avx2_hmac_short, 8};
#endif
    paths[n_paths++] = (struct path){"portable", compress_portable, NULL, 1};
}

/* HMAC-SHA256(key, m) of every message m in [p, end), separated by `sep`, into out. */
static void hmac_all(const struct path *pa, const uint8_t *key, size_t klen, const uint8_t *p, const uint8_t *end,
                     int sep, uint8_t *out)
{
    const uint8_t *msg[MAX_LANES];
    size_t len[MAX_LANES];
    uint8_t *outs[MAX_LANES], scratch[32], inner_digest[32];
    uint32_t inner[8], outer[8];
    int k = 0;

    keyed_states(pa->compress, key, klen, inner, outer);
    while (1) {
        const uint8_t *stop = memchr(p, sep, (size_t)(end - p));
        size_t n = (size_t)((stop ? stop : end) - p);
        if (pa->batch != NULL && n <= 55) {
            msg[k] = p;
            len[k] = n;
            outs[k] = out;
            if (++k == pa->lanes) {
                pa->batch(inner, outer, msg, len, outs);
                k = 0;
            }
        } else {
            finish(pa->compress, inner, 64, p, n, inner_digest);
            finish(pa->compress, outer, 64, inner_digest, 32, out);
        }
        out += 32;
        if (!stop)
            break;
        p = stop + 1;
    }
    if (k > 0) { /* the last batch is short: its free lanes hash its first message again, unused */
        int l;
        for (l = k; l < pa->lanes; l++) {
            msg[l] = msg[0];
            len[l] = len[0];
            outs[l] = scratch;
        }
        pa->batch(inner, outer, msg, len, outs);
    }
}

static PyObject *hmac_sha256(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"key", "msgs", "sep", "path", NULL};
    Py_buffer key, msgs;
    int sep = ',';
    const char *name = NULL;
    const struct path *pa = &paths[0];
    Py_ssize_t n = 0, i;
    PyObject *result;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*|iz:hmac_sha256", kwlist, &key, &msgs, &sep, &name))
        return NULL;
    if (sep < 0 || sep > 255) {
        PyErr_SetString(PyExc_ValueError, "sep must be a byte value (0-255)");
        goto fail;
    }
    if (name != NULL) {
        for (i = 0; i < n_paths && strcmp(paths[i].name, name) != 0; i++)
            ;
        if (i == n_paths) {
            PyErr_Format(PyExc_ValueError, "path '%s' is not one of this CPU's (see PATHS)", name);
            goto fail;
        }
        pa = &paths[i];
    }
    if (msgs.len > 0) {
        const char *p = msgs.buf;
        n = 1;
        for (i = 0; i < msgs.len; i++)
            n += p[i] == (char)sep;
    }
    result = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (result == NULL)
        goto fail;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        hmac_all(pa, key.buf, (size_t)key.len, msgs.buf, (const uint8_t *)msgs.buf + msgs.len, sep,
                 (uint8_t *)PyBytes_AS_STRING(result));
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&msgs);
    return result;
fail:
    PyBuffer_Release(&key);
    PyBuffer_Release(&msgs);
    return NULL;
}

static PyMethodDef methods[] = {
    {"hmac_sha256", (PyCFunction)(void (*)(void))hmac_sha256, METH_VARARGS | METH_KEYWORDS,
     "hmac_sha256(key, msgs, sep=44, path=None) -> bytes\n\n"
     "HMAC-SHA256(key, m) for every message m of `msgs` (messages separated by the byte `sep`; an\n"
     "empty buffer holds none), the 32-byte digests concatenated in order. `path` names one of\n"
     "PATHS (for tests and benchmarks); by default the first. Runs without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "core._hmac", NULL, -1, methods};

PyMODINIT_FUNC PyInit__hmac(void)
{
    PyObject *m = PyModule_Create(&module), *names;
    int i;
    if (m == NULL)
        return NULL;
    if (n_paths == 0)
        find_paths();
    names = PyTuple_New(n_paths);
    if (names == NULL)
        goto fail;
    for (i = 0; i < n_paths; i++) {
        PyObject *name = PyUnicode_FromString(paths[i].name);
        if (name == NULL) {
            Py_DECREF(names);
            goto fail;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    if (PyModule_AddObject(m, "PATHS", names) < 0) {
        Py_DECREF(names);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}

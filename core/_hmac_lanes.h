/* HMAC-SHA256 of LANES short messages at once, one message per lane of a vector register
 * ("multi-buffer"): SHA-256 is 32-bit adds, rotates and logic, so LANES independent messages
 * run in the same instructions. Included by _hmac.c once per vector width, with
 *   LANES       the lanes (8 for 256-bit registers, 16 for 512-bit ones),
 *   LANE_TARGET the function attribute that enables that instruction set,
 *   LANE_FN(x)  the name of this width's version of x.
 * Written with GCC's vector extensions (also Clang's), so the compiler picks the instructions
 * (AVX-512's rotate and three-input logic among them). Messages must be at most 55 bytes: one
 * block after the 64-byte keyed state. */

typedef uint32_t LANE_FN(vec) __attribute__((vector_size(4 * LANES), aligned(4 * LANES)));

#define LV LANE_FN(vec)
#define LROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* 64 rounds of SHA-256 on every lane; w is the block (its words, lane by lane) and is used up. */
LANE_TARGET static inline void LANE_FN(compress)(LV s[8], LV w[16])
{
    LV a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    int i;
#pragma GCC unroll 64
    for (i = 0; i < 64; i++) {
        LV t1, t2;
        if (i >= 16) { /* the schedule in a window of 16 words: w[i & 15] held W[i - 16] */
            LV x = w[(i - 15) & 15], y = w[(i - 2) & 15];
            w[i & 15] += (LROR(x, 7) ^ LROR(x, 18) ^ (x >> 3)) + w[(i - 7) & 15]
                         + (LROR(y, 17) ^ LROR(y, 19) ^ (y >> 10));
        }
        t1 = h + (LROR(e, 6) ^ LROR(e, 11) ^ LROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i & 15];
        t2 = (LROR(a, 2) ^ LROR(a, 13) ^ LROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

/* HMAC of msg[l] (len[l] ≤ 55 bytes) into out[l], for each of the LANES lanes. */
LANE_TARGET static void LANE_FN(hmac_short)(const uint32_t inner[8], const uint32_t outer[8],
                                            const uint8_t *const msg[], const size_t len[], uint8_t *const out[])
{
    uint32_t words[16][LANES] __attribute__((aligned(4 * LANES)));
    uint8_t block[64];
    LV s[8], w[16], zero = {0};
    int i, l;

    for (l = 0; l < LANES; l++) { /* each lane's padded block, as big-endian words */
        short_padded(msg[l], len[l], block);
        for (i = 0; i < 16; i++)
            words[i][l] = get_be32(block + 4 * i);
    }
    for (i = 0; i < 16; i++)
        memcpy(&w[i], words[i], sizeof w[i]);
    for (i = 0; i < 8; i++)
        s[i] = zero + inner[i];
    LANE_FN(compress)(s, w);
    /* The outer block: the inner digest (already lane by lane), 0x80, zeros, (64 + 32) * 8. */
    for (i = 0; i < 8; i++) {
        w[i] = s[i];
        s[i] = zero + outer[i];
    }
    w[8] = zero + 0x80000000u;
    for (i = 9; i < 15; i++)
        w[i] = zero;
    w[15] = zero + 768u;
    LANE_FN(compress)(s, w);
    for (i = 0; i < 8; i++)
        memcpy(words[i], &s[i], sizeof s[i]);
    for (l = 0; l < LANES; l++)
        for (i = 0; i < 8; i++)
            put_be32(out[l] + 4 * i, words[i][l]);
}

#undef LV
#undef LROR

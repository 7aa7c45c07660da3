/* Counter-based random numbers: a value is a pure function of (seed, stream, counter), so
 * results do not depend on thread scheduling. Header-only, so plugins inline it. */
#ifndef NOMAD_RNG_H
#define NOMAD_RNG_H

#include <stdint.h>

/* The finaliser of SplitMix64: a bijective 64-bit mixer with full avalanche. */
static inline uint64_t nmp_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The (seed, stream) part of a draw, for loops that draw many numbers of one stream. */
static inline uint64_t nmp_rng_key(uint64_t seed, uint64_t stream) { return nmp_mix64(seed ^ nmp_mix64(stream)); }

/* nmp_rng_u64(seed, stream, counter) == nmp_rng_keyed(nmp_rng_key(seed, stream), counter). */
static inline uint64_t nmp_rng_keyed(uint64_t key, uint64_t counter) { return nmp_mix64(key ^ counter); }

/* 64 random bits for (seed, stream, counter). Streams name a use (see NMP_STREAM_*). */
static inline uint64_t nmp_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return nmp_rng_keyed(nmp_rng_key(seed, stream), counter);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double nmp_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return (double)(nmp_rng_u64(seed, stream, counter) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, bound) (Lemire's multiply-shift; bias < bound / 2^64). */
static inline uint64_t nmp_rng_below(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t bound)
{
    return (uint64_t)(((unsigned __int128)nmp_rng_u64(seed, stream, counter) * bound) >> 64);
}

/* Combines two counters (e.g. step and slot) into one. */
static inline uint64_t nmp_rng_counter2(uint64_t a, uint64_t b) { return nmp_mix64(a) ^ (b * 0xd1b54a32d192ed03ull); }

/* Well-known streams, so two uses never share numbers by accident. Plugins pick their own
 * stream ids above NMP_STREAM_PLUGIN (e.g. NMP_STREAM_PLUGIN + a hash of their name). */
enum {
    NMP_STREAM_BATCH = 1,     /* optimiser: targets of each step */
    NMP_STREAM_PARTITION = 2, /* partitioners */
    NMP_STREAM_ANN = 3,
    NMP_STREAM_INIT = 4,
    NMP_STREAM_NEGATIVES = 5,
    NMP_STREAM_LOSS = 6,
    NMP_STREAM_EVAL = 7,
    NMP_STREAM_TRANSFORM = 8, /* nomad transform: the map points each step repels from */
    NMP_STREAM_PLUGIN = 1000,
};

#endif

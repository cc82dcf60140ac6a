"""torch's CPU random number generator, reproduced bit for bit.

torch's CPU generator is an mt19937 seeded with the standard 32-bit ``init_genrand``; numpy's
``MT19937`` after its legacy seeding yields the same raw 32-bit stream, which this module draws
in bulk. On top of that stream sit torch's transforms (ATen's TransformationHelper.h,
DistributionsHelper.h and the CPU distribution kernels), written here with numpy:

* uniform: 24 (float32) or 53 (float64, two 32-bit words, first one high) random bits scaled
  to [0, 1), then ``x * (to - from) + from`` as one fused multiply-add (torch's kernels are
  compiled with FMA contraction, so the engine emulates ``fma`` exactly).
* normal: fewer than 16 elements (or float64 / non-contiguous below 16) go through Box-Muller
  in double precision with a cached second sample (``next_double_normal_sample``); 16 elements
  and more are filled with uniforms first, then transformed 16 at a time (the first 8 against
  the next 8); the last partial block re-draws 16 fresh uniforms. float32 uses the AVX2
  cephes ``log256_ps``/``sincos256_ps`` polynomials, float64 uses libm's log/sin/cos.
* bernoulli, exponential, random_, randint, randperm (Fisher-Yates on 32-bit draws),
  multinomial (exponential race without replacement, cumulative search with replacement).
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any

import numpy as np

from engine.device import device
from engine.tensor import _make

__all__ = ["Generator", "default_generator"]

_N = 624
_DEFAULT_SEED = 67280421310721  # c10::detail::default_rng_seed_val
_STATE_FMT = "<QiiQ624Qdddi4xf?3x"  # CPUGeneratorImplState, 5056 bytes
_F = np.float32
_CHUNK = 2048  # 16-element blocks per numpy pass of the normal fill
_U64_32 = np.uint64(32)


# ----------------------------------------------------------------------------- exact FMA
def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = a * b
    ca = a * 134217729.0
    ah = ca - (ca - a)
    al = a - ah
    cb = b * 134217729.0
    bh = cb - (cb - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _add_round_odd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b in float64, rounded to odd (sticky last bit) instead of to nearest."""
    s, e = _two_sum(a, b)
    fix = (e != 0) & ((s.view(np.int64) & 1) == 0)
    if fix.any():
        s = np.where(fix, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)
    return s


def _is_one(b: Any) -> bool:
    return np.ndim(b) == 0 and float(b) == 1.0


def fma64(a: Any, b: Any, c: Any) -> np.ndarray:
    """Correctly rounded a * b + c in float64 (Boldo-Melquiond emulation)."""
    if _is_one(b):
        return np.asarray(a, np.float64) + np.asarray(c, np.float64)
    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a, b, c)))
    p, pe = _two_prod(a, b)
    th, tl = _two_sum(c, p)
    return th + _add_round_odd(tl, pe)


def fma32(a: Any, b: Any, c: Any) -> np.ndarray:
    """Correctly rounded a * b + c in float32: the product is exact in float64, and the sum
    rounded to float64 then to float32 is right unless it lands on a float32 halfway point
    (or in float32's subnormal range); those few are redone with round-to-odd."""
    if _is_one(b):
        return (np.asarray(a, _F) + np.asarray(c, _F)).astype(_F, copy=False)
    p = np.multiply(a, b, dtype=np.float64)
    s = p + np.asarray(c, np.float64)
    out = s.astype(_F)
    bits = s.view(np.uint64) if s.ndim else np.asarray([s]).view(np.uint64)
    risky = (bits & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000)
    risky |= (bits & np.uint64(0x7FF0000000000000)) < np.uint64(898 << 52)  # < 2**-125, or 0
    risky = risky.reshape(s.shape)
    if risky.any():
        pr, cr = np.broadcast_arrays(p, np.asarray(c, np.float64))
        idx = np.nonzero(risky)
        out = np.array(out, _F)
        out[idx] = _add_round_odd(pr[idx], cr[idx]).astype(_F)
    return out


def _libm_log(x: np.ndarray) -> np.ndarray:
    # numpy's SIMD float64 log differs from glibc's in the last bit; torch calls glibc
    return np.fromiter(map(math.log, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)


def _libm_log1p(x: np.ndarray) -> np.ndarray:
    return np.fromiter(map(math.log1p, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)


# ----------------------------------------------------------------------------- AVX2 cephes
_C = {k: _F(v) for k, v in dict(
    sqrthf=0.707106781186547524, q1=-2.12194440e-4, q2=0.693359375, fopi=1.27323954473516,
    dp1=-0.78515625, dp2=-2.4187564849853515625e-4, dp3=-3.77489497744594108e-8,
    s0=-1.9515295891E-4, s1=8.3321608736E-3, s2=-1.6666654611E-1,
    c0=2.443315711809948E-005, c1=-1.388731625493765E-003, c2=4.166664568298827E-002).items()}
_LOG_P = [_F(v) for v in (7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1,
                          -1.2420140846E-1, 1.4249322787E-1, -1.6668057665E-1,
                          2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1)]


def _log256(x: np.ndarray) -> np.ndarray:
    """avx_mathfun's log256_ps as GCC compiles it (mul+add contracted to FMA); x in (0, 1]."""
    xi = np.maximum(x, _F(1.1754944e-38)).view(np.int32)
    e = ((xi >> 23) - 0x7F).astype(_F) + _F(1)
    x = ((xi & ~0x7F800000) | 0x3F000000).view(_F)
    mask = x < _C["sqrthf"]
    tmp = np.where(mask, x, _F(0))
    x = x - _F(1)
    e = e - mask.astype(_F)
    x = x + tmp
    z = x * x
    y = np.full_like(x, _LOG_P[0])
    for p in _LOG_P[1:]:
        y = fma32(y, x, p)
    y = y * x
    y = fma32(y, z, e * _C["q1"])
    y = y - z * _F(0.5)
    return (x + y) + e * _C["q2"]


def _sincos256(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """avx_mathfun's sincos256_ps (FMA-contracted) for x >= 0."""
    j = (x * _C["fopi"]).astype(np.int32)
    j = (j + 1) & ~1
    y = j.astype(_F)
    sign_sin = (j & 4) != 0
    poly = (j & 2) == 0
    sign_cos = ((j - 2) & 4) == 0
    x = x + y * _C["dp1"]  # y is 0, 2, ..., 8: these two products are exact, so the
    x = x + y * _C["dp2"]  # float32 sums round once, as the FMA does
    x = fma32(y, _C["dp3"], x)
    z = x * x
    yc = fma32(fma32(np.full_like(z, _C["c0"]), z, _C["c1"]), z, _C["c2"]) * z
    yc = fma32(yc, z, -(z * _F(0.5))) + _F(1)
    ys = fma32(fma32(np.full_like(z, _C["s0"]), z, _C["s1"]), z, _C["s2"]) * z
    ys = fma32(ys, x, x)
    s = np.where(poly, ys, yc)
    c = np.where(poly, yc, ys)
    return np.where(sign_sin, -s, s), np.where(sign_cos, -c, c)


def _box_muller16_f32(blocks: np.ndarray, mean: float, std: float) -> np.ndarray:
    u1 = _F(1) - blocks[:, :8]
    u2 = blocks[:, 8:]
    radius = np.sqrt(_F(-2) * _log256(u1))
    s, c = _sincos256(_F(2.0 * math.pi) * u2)
    m, sd = _F(mean), _F(std)
    return np.concatenate([fma32(radius * c, sd, m), fma32(radius * s, sd, m)], axis=1)


def _box_muller16_f64(blocks: np.ndarray, mean: float, std: float) -> np.ndarray:
    radius = np.sqrt(-2.0 * _libm_log(1.0 - blocks[:, :8]))
    theta = (2.0 * math.pi) * blocks[:, 8:]
    return np.concatenate([fma64(radius * np.cos(theta), std, mean),
                           fma64(radius * np.sin(theta), std, mean)], axis=1)


# ----------------------------------------------------------------------------- generator
class Generator:
    """torch.Generator for the CPU: an mt19937 stream with torch's seeding and state bytes."""

    def __init__(self, device: Any = "cpu") -> None:
        if str(device) != "cpu":
            raise RuntimeError(f"Device type {str(device).upper()} is not supported for "
                               "torch.Generator() api.")
        self._bits = np.random.MT19937(0)
        self.manual_seed(_DEFAULT_SEED)

    @property
    def device(self) -> Any:
        return device("cpu")

    # -- seeding and state
    def manual_seed(self, seed: Any) -> Generator:
        """Seed the stream (torch keeps the low 32 bits for mt19937, the full value for
        ``initial_seed``)."""
        seed = int(seed)
        if not -0x8000_0000_0000_0000 <= seed <= 0xFFFF_FFFF_FFFF_FFFF:
            raise RuntimeError("Overflow when unpacking long long")
        seed %= 2 ** 64
        self._seed = seed
        self._bits._legacy_seeding(seed & 0xFFFFFFFF)
        self._fresh = True
        self._next_double: float | None = None
        self._next_float: float | None = None
        return self

    def seed(self) -> int:
        """Seed from os entropy and return the seed (as torch.Generator.seed)."""
        s = int.from_bytes(os.urandom(8), "little") & 0x7FFF_FFFF_FFFF_FFFF
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Any:
        """The state as torch's 5056-byte uint8 tensor (CPUGeneratorImplState)."""
        st = self._bits.state["state"]
        key, pos = st["key"], int(st["pos"])
        if pos >= _N:
            left, nxt = 1, 0 if self._fresh else _N
        else:
            left, nxt = _N + 1 - pos, pos
        nd = self._next_double
        nf = self._next_float
        raw = struct.pack(_STATE_FMT, self._seed, left, 1, nxt, *[int(k) for k in key],
                          0.0, 0.0 if nd is None else nd, 0.0, int(nd is not None),
                          0.0 if nf is None else nf, nf is not None)
        return _make(np.frombuffer(raw, np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        data = np.asarray(getattr(new_state, "_data", new_state))
        if data.dtype != np.uint8:
            raise TypeError(f"expected a torch.ByteTensor, but got {_type_name(new_state)}")
        size = struct.calcsize(_STATE_FMT)
        if data.size != size:
            raise RuntimeError(f"Expected a CPUGeneratorImplState of size {size} but found "
                               f"the input RNG state size to be {data.size}")
        f = struct.unpack(_STATE_FMT, data.tobytes())
        seed, left, seeded, nxt = f[:4]
        key = np.array(f[4:4 + _N], np.uint64).astype(np.uint32)
        _, nd, _, nd_valid, nf, nf_valid = f[4 + _N:]
        if not (seeded and 0 < left <= _N and nxt <= _N):
            raise RuntimeError("Invalid mt19937 state")
        pos = _N if left == 1 else nxt
        self._bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
        self._seed = seed
        self._fresh = left == 1 and nxt == 0
        self._next_double = nd if nd_valid else None
        self._next_float = nf if nf_valid else None
        return self

    def clone_state(self) -> Generator:
        g = Generator()
        g.set_state(self.get_state())
        return g

    def __repr__(self) -> str:
        return f"<torch._C.Generator object at {id(self):#x}>"

    # -- raw stream
    def _u32(self, n: int) -> np.ndarray:
        """n raw 32-bit draws (torch's ``random()``), as uint64."""
        if n <= 0:
            return np.zeros(0, np.uint64)
        self._fresh = False
        return self._bits.random_raw(n)

    def _u64(self, n: int) -> np.ndarray:
        """n 64-bit draws (torch's ``random64()``: first word high, second low)."""
        r = self._u32(2 * n)
        return (r[0::2] << _U64_32) | r[1::2]

    # -- uniform [0, 1) in torch's precision
    def _unit_f32(self, n: int) -> np.ndarray:
        return (self._u32(n) & 0xFFFFFF).astype(_F) * _F(2.0 ** -24)

    def _unit_f64(self, n: int) -> np.ndarray:
        return (self._u64(n) & np.uint64((1 << 53) - 1)).astype(np.float64) * 2.0 ** -53

    def _unit_f16(self, n: int) -> np.ndarray:
        return (self._u32(n) & 0x7FF).astype(_F) * _F(2.0 ** -11)

    # -- samplers (numpy in, numpy out; shapes in C order)
    def uniform(self, shape: tuple, dt: np.dtype, low: float = 0.0, high: float = 1.0
                ) -> np.ndarray:
        n = int(np.prod(shape, dtype=np.int64))
        dt = np.dtype(dt)
        if dt == np.float64:
            x = self._unit_f64(n)
            out = x if (low, high) == (0.0, 1.0) else fma64(x, high - low, low)
        elif dt == np.float16:
            lo, hi = np.float16(low), np.float16(high)
            out = fma32(self._unit_f16(n), _F(np.float16(hi - lo)), _F(lo)).astype(np.float16)
        else:
            lo, hi = _F(low), _F(high)
            out = fma32(self._unit_f32(n), hi - lo, lo)
        return out.astype(dt, copy=False).reshape(shape)

    def _normal_serial(self, n: int) -> np.ndarray:
        """torch's normal_distribution<double>: Box-Muller with one cached sample."""
        out = np.empty(n, np.float64)
        i = 0
        if n and self._next_double is not None:
            out[0] = self._next_double
            self._next_double = None
            i = 1
        pairs = (n - i + 1) // 2
        if pairs:
            u = self._unit_f64(2 * pairs)
            u1, u2 = u[0::2], u[1::2]
            r = np.sqrt(-2.0 * _libm_log1p(-u2))
            theta = 2.0 * math.pi * u1
            both = np.empty(2 * pairs)
            both[0::2] = r * np.cos(theta)
            both[1::2] = r * np.sin(theta)
            out[i:] = both[:n - i]
            if (n - i) % 2:
                self._next_double = float(both[-1])
        return out

    def normal(self, shape: tuple, dt: np.dtype, mean: float = 0.0, std: float = 1.0,
               contiguous: bool = True) -> np.ndarray:
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {_fmt(std)}")
        n = int(np.prod(shape, dtype=np.int64))
        dt = np.dtype(dt)
        if n >= 16 and contiguous:
            f32 = dt == np.float32
            unit = self._unit_f32 if f32 else self._unit_f64
            fill = _box_muller16_f32 if f32 else _box_muller16_f64
            if not f32 and dt != np.float64:
                unit, fill = self._unit_f64, _box_muller16_f64
            data = unit(n)
            m = n // 16
            blocks = data[:m * 16].reshape(m, 16)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                for i in range(0, m, _CHUNK):  # cache-sized pieces: faster temporaries
                    blocks[i:i + _CHUNK] = fill(blocks[i:i + _CHUNK], mean, std)
                if n % 16:
                    data[n - 16:] = fill(unit(16).reshape(1, 16), mean, std).ravel()
            return data.astype(dt, copy=False).reshape(shape)
        out = self._normal_serial(n)
        return fma64(out, std, mean).astype(dt).reshape(shape)

    def random_from_to(self, shape: tuple, dt: np.dtype, rng: int, base: int) -> np.ndarray:
        """Integers in [base, base + rng): ``random() % rng + base`` (random64 when the range
        needs more than 32 bits and the type is 64-bit or floating)."""
        n = int(np.prod(shape, dtype=np.int64))
        dt = np.dtype(dt)
        wide = rng >= 1 << 32 and dt in (np.int64, np.float64, np.float32)
        v = self._u64(n) if wide else self._u32(n)
        out = (v % np.uint64(rng)).astype(np.int64) + np.int64(base)
        return out.astype(dt).reshape(shape)

    def random_full(self, shape: tuple, dt: np.dtype) -> np.ndarray:
        """random_() without bounds: [0, 2**mantissa] for floats, [0, max] for integers."""
        n = int(np.prod(shape, dtype=np.int64))
        dt = np.dtype(dt)
        if dt == np.bool_:
            return (self._u32(n) & 1).astype(np.bool_).reshape(shape)
        if dt == np.float64:
            v = self._u64(n) % np.uint64((1 << 53) + 1)
        elif dt == np.int64:
            v = self._u64(n) % np.uint64(1 << 63)
        elif dt == np.float32:
            v = self._u32(n) % np.uint64((1 << 24) + 1)
        elif dt == np.float16:
            v = self._u32(n) % np.uint64((1 << 11) + 1)
        else:
            v = self._u32(n) % np.uint64(int(np.iinfo(dt).max) + 1)
        return v.astype(dt).reshape(shape)

    def bernoulli_scalar(self, shape: tuple, dt: np.dtype, p: float) -> np.ndarray:
        n = int(np.prod(shape, dtype=np.int64))
        return (self._unit_f64(n) < p).astype(dt).reshape(shape)

    def bernoulli_tensor(self, dt: np.dtype, p: np.ndarray) -> np.ndarray:
        n = p.size
        if p.dtype == np.float64:
            u = self._unit_f64(n)
        else:
            u = self._unit_f32(n)
            p = p.astype(_F)
        return (u < p.ravel()).astype(dt).reshape(p.shape)

    def exponential(self, shape: tuple, dt: np.dtype, lambd: float) -> np.ndarray:
        n = int(np.prod(shape, dtype=np.int64))
        u = self._unit_f64(n)
        return ((-1.0 / lambd) * _libm_log1p(-u)).astype(dt).reshape(shape)

    def randperm(self, n: int) -> np.ndarray:
        """Fisher-Yates as torch's randperm_cpu: swap i with i + random() % (n - i)."""
        r = list(range(n))
        if n > 1:
            z = self._u32(n - 1)
            k = (z % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64)
            k += np.arange(n - 1, dtype=np.int64)
            for i, j in enumerate(k.tolist()):
                r[i], r[j] = r[j], r[i]
        return np.array(r, np.int64)


def _fmt(v: float) -> str:
    return f"{v:g}"  # C++ ostream's default formatting of a double


def _type_name(obj: Any) -> str:
    return type(obj).__name__


Generator.__module__ = "torch._C"  # repr(torch.Generator) is <class 'torch._C.Generator'>
default_generator = Generator()
default_generator.seed()

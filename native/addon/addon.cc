// Node-API glue: unwrap typed arrays, re-check sizes, call the core, and run
// long work on the libuv pool behind a Promise. No math here. The TypeScript
// layer (lib/) validates arguments and builds the messages users see; checks
// here are a second line that keeps bad calls from touching memory.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../core/clustered.h"
#include "../core/convert.h"
#include "../core/cpu.h"
#include "../core/kernels.h"
#include "../core/kmeans.h"
#include "../core/linear.h"
#include "../core/quant.h"
#include "../core/quant_fit.h"
#include "../core/sparse.h"
#include "../core/thread_pool.h"

namespace {

using sparq::HalfType;
using sparq::WeightType;

// A typed array checked for its element type and for holding exactly `count`
// elements; null when empty.
template <typename T>
T* typed_view(Napi::Env env, const Napi::Value& v, napi_typedarray_type type, const char* name,
              size_t count) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, std::string("Expected a typed array of the right type for ") + name);
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  if (a.ElementLength() != count) {
    throw Napi::RangeError::New(env, std::string("Expected ") + std::to_string(count) +
                                         " elements for " + name + " but received " +
                                         std::to_string(a.ElementLength()));
  }
  if (count == 0) return nullptr;
  uint8_t* base = static_cast<uint8_t*>(a.ArrayBuffer().Data());
  if (base == nullptr) throw Napi::TypeError::New(env, std::string(name) + " is detached");
  return reinterpret_cast<T*>(base + a.ByteOffset());
}

template <typename T>
T* typed_data(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type,
              const char* name, size_t count) {
  return typed_view<T>(info.Env(), info[index], type, name, count);
}

template <typename T>
T* typed_prop(Napi::Env env, const Napi::Object& o, const char* name, napi_typedarray_type type,
              size_t count) {
  return typed_view<T>(env, o.Get(name), type, name, count);
}

// A float32 array of n elements at info[index], or null when null/undefined.
const float* optional_f32(const Napi::CallbackInfo& info, size_t index, const char* name, size_t n) {
  if (info[index].IsNull() || info[index].IsUndefined()) return nullptr;
  return typed_data<const float>(info, index, napi_float32_array, name, n);
}

size_t size_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index >= info.Length() || !info[index].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string("Expected a number for ") + name);
  const double v = info[index].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 9007199254740991.0) || v != static_cast<double>(static_cast<uint64_t>(v)))
    throw Napi::RangeError::New(info.Env(), std::string("Expected a non-negative integer for ") + name);
  return static_cast<size_t>(v);
}

// a * b, or throws on overflow.
size_t checked_mul(Napi::Env env, size_t a, size_t b) {
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Napi::RangeError::New(env, "Tensor size overflows");
  return r;
}

// Runs `work` on the libuv pool; resolves with `result`. Holds references to
// `keep` (the input and output arrays) until it settles, so the garbage
// collector cannot free memory the work reads or writes.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<void()> work, Napi::Value result,
                const std::vector<Napi::Value>& keep)
      : Napi::AsyncWorker(env, "sparq"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)) {
    result_ = Napi::Persistent(result);
    for (const Napi::Value& v : keep)
      if (v.IsObject()) keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { work_(); }
  void OnOK() override { deferred_.Resolve(result_.Value()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  Napi::Reference<Napi::Value> result_;
  std::vector<Napi::ObjectReference> keep_;
};

Napi::Value run(const Napi::CallbackInfo& info, bool async, std::function<void()> work,
                Napi::Value result, const std::vector<Napi::Value>& keep) {
  if (!async) {
    work();
    return result;
  }
  auto* worker = new PromiseWorker(info.Env(), std::move(work), result, keep);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// As above, with the values to keep alive listed by keep() only for async
// calls (reading the weights' properties again costs a sync call time).
template <typename Keep>
Napi::Value run_keeping(const Napi::CallbackInfo& info, bool async, std::function<void()> work,
                        Napi::Value result, Keep keep) {
  return async ? run(info, true, std::move(work), result, keep()) : run(info, false, std::move(work), result, {});
}

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const sparq::CpuFeatures& f = sparq::cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("vendor", f.vendor);
  o.Set("brand", f.brand);
  o.Set("detected", sparq::isa_name(sparq::detected_isa()));
  o.Set("active", sparq::isa_name(sparq::kernels().isa));
  Napi::Object feat = Napi::Object::New(env);
  feat.Set("avx2", f.avx2);
  feat.Set("avx512", f.avx512);
  feat.Set("avx512vnni", f.avx512_vnni);
  feat.Set("avx512bf16", f.avx512_bf16);
  o.Set("features", feat);
  o.Set("cores", sparq::available_cores());
  return o;
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), sparq::num_threads());
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const size_t n = size_arg(info, 0, "threads");
  if (n < 1 || n > 1024) throw Napi::RangeError::New(info.Env(), "Expected 1..1024 for threads");
  sparq::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

// convertToHalf(src: Float32Array, dst: Uint16Array, kind: 0 f16 | 1 bf16)
Napi::Value ConvertToHalf(const Napi::CallbackInfo& info) {
  const size_t n = info[0].IsTypedArray() ? info[0].As<Napi::TypedArray>().ElementLength() : 0;
  const float* src = typed_data<const float>(info, 0, napi_float32_array, "src", n);
  uint16_t* dst = typed_data<uint16_t>(info, 1, napi_uint16_array, "dst", n);
  const HalfType type = size_arg(info, 2, "kind") == 0 ? HalfType::kF16 : HalfType::kBF16;
  sparq::convert_f32_to_half(src, dst, n, type);
  return info.Env().Undefined();
}

// firstNonFinite(x: Float32Array): the index of its first NaN or +-Inf, or -1.
Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  const size_t n = info[0].IsTypedArray() ? info[0].As<Napi::TypedArray>().ElementLength() : 0;
  const float* x = typed_data<const float>(info, 0, napi_float32_array, "x", n);
  const size_t i = sparq::first_non_finite(x, n);
  return Napi::Number::New(info.Env(), i == n ? -1.0 : static_cast<double>(i));
}

// convertFromHalf(src: Uint16Array, dst: Float32Array, kind: 0 f16 | 1 bf16)
Napi::Value ConvertFromHalf(const Napi::CallbackInfo& info) {
  const size_t n = info[0].IsTypedArray() ? info[0].As<Napi::TypedArray>().ElementLength() : 0;
  const uint16_t* src = typed_data<const uint16_t>(info, 0, napi_uint16_array, "src", n);
  float* dst = typed_data<float>(info, 1, napi_float32_array, "dst", n);
  const HalfType type = size_arg(info, 2, "kind") == 0 ? HalfType::kF16 : HalfType::kBF16;
  sparq::convert_half_to_f32(src, dst, n, type);
  return info.Env().Undefined();
}

// linear(x, N, K, w, wtype, M, bias | null, y, async)
Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t N = size_arg(info, 1, "N"), K = size_arg(info, 2, "K"), M = size_arg(info, 5, "M");
  const size_t wtype = size_arg(info, 4, "wtype");
  if (wtype > 2) throw Napi::RangeError::New(env, "Expected 0..2 for wtype");
  const WeightType type = static_cast<WeightType>(wtype);
  const float* x = typed_data<const float>(info, 0, napi_float32_array, "x", checked_mul(env, N, K));
  const void* w = type == WeightType::kF32
                      ? static_cast<const void*>(typed_data<const float>(
                            info, 3, napi_float32_array, "w", checked_mul(env, M, K)))
                      : static_cast<const void*>(typed_data<const uint16_t>(
                            info, 3, napi_uint16_array, "w", checked_mul(env, M, K)));
  const float* bias = optional_f32(info, 6, "bias", M);
  float* y = typed_data<float>(info, 7, napi_float32_array, "y", checked_mul(env, N, M));
  const bool async = info[8].ToBoolean();
  return run(info, async, [=] { sparq::linear_dense(x, N, K, w, type, M, bias, y); }, info[7],
             {info[0], info[3], info[6], info[7]});
}

// matmul(a, b, c, M, K, N, async)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t M = size_arg(info, 3, "M"), K = size_arg(info, 4, "K"), N = size_arg(info, 5, "N");
  const float* a = typed_data<const float>(info, 0, napi_float32_array, "a", checked_mul(env, M, K));
  const float* b = typed_data<const float>(info, 1, napi_float32_array, "b", checked_mul(env, K, N));
  float* c = typed_data<float>(info, 2, napi_float32_array, "c", checked_mul(env, M, N));
  const bool async = info[6].ToBoolean();
  return run(info, async, [=] { sparq::matmul_f32(a, b, c, M, K, N); }, info[2],
             {info[0], info[1], info[2]});
}

// A quantized weight description { codes, codeType, scales, scaleType, mins,
// groupSize, lut } for an [M, K] matrix, checked against M and K.
sparq::QuantWeights quant_arg(const Napi::CallbackInfo& info, size_t index, size_t M, size_t K) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsObject())
    throw Napi::TypeError::New(env, "Expected an object for the quantized weights");
  Napi::Object o = info[index].As<Napi::Object>();
  sparq::QuantWeights w{};
  const auto number = [&](const char* name) {
    Napi::Value v = o.Get(name);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("Expected a number for ") + name);
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
      throw Napi::RangeError::New(env, std::string("Expected a non-negative integer for ") + name);
    return static_cast<size_t>(d);
  };
  const size_t code_type = number("codeType"), scale_type = number("scaleType");
  w.group_size = number("groupSize");
  if (code_type > 2 || scale_type > 1) throw Napi::RangeError::New(env, "Unknown codeType or scaleType");
  w.code_type = static_cast<sparq::CodeType>(code_type);
  w.scale_type = static_cast<sparq::ScaleType>(scale_type);
  const bool gs_ok = w.group_size == 0 || (w.group_size >= 16 && (w.group_size & (w.group_size - 1)) == 0 &&
                                           K % w.group_size == 0);
  if (!gs_ok) throw Napi::RangeError::New(env, "Expected groupSize 0 or a power of two >= 16 dividing K");
  if (w.code_type == sparq::CodeType::kNibble && (K % 32 != 0 || w.group_size == 16))
    throw Napi::RangeError::New(env, "Expected K a multiple of 32 and groupSize 0 or >= 32 for 4-bit codes");
  w.codes = typed_prop<const uint8_t>(env, o, "codes", napi_uint8_array,
                                      checked_mul(env, M, sparq::quant_row_bytes(w, K)));
  const size_t n_scales = checked_mul(env, M, K == 0 ? 0 : sparq::quant_groups(w, K));
  const napi_typedarray_type st = w.scale_type == sparq::ScaleType::kF16 ? napi_uint16_array : napi_float32_array;
  w.scales = typed_prop<const void>(env, o, "scales", st, n_scales);
  Napi::Value mins = o.Get("mins");
  w.mins = mins.IsNull() || mins.IsUndefined() ? nullptr : typed_prop<const void>(env, o, "mins", st, n_scales);
  w.lut = w.code_type == sparq::CodeType::kNibble ? typed_prop<const float>(env, o, "lut", napi_float32_array, 16)
                                                   : nullptr;
  return w;
}

// The arguments the compressed-weight linear entry points share:
// (x, N, K, weights, M, bias | null, y, async, ...).
struct LinearIo {
  size_t N, K, M;
  const float* x;
  const float* bias;
  float* y;
};

LinearIo linear_io(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LinearIo io{};
  io.N = size_arg(info, 1, "N");
  io.K = size_arg(info, 2, "K");
  io.M = size_arg(info, 4, "M");
  io.x = typed_data<const float>(info, 0, napi_float32_array, "x", checked_mul(env, io.N, io.K));
  io.bias = optional_f32(info, 5, "bias", io.M);
  io.y = typed_data<float>(info, 6, napi_float32_array, "y", checked_mul(env, io.N, io.M));
  return io;
}

// linearQuant(x, N, K, q, M, bias | null, y, async, int8Activations); q is
// kept alive with the call.
Napi::Value LinearQuant(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto [N, K, M, x, bias, y] = linear_io(info);
  const sparq::QuantWeights w = quant_arg(info, 3, M, K);
  const bool int8_act = info[8].ToBoolean();
  bool identity_table = true;  // 4-bit with mins: the int8 kernels read codes as values
  if (w.code_type == sparq::CodeType::kNibble && w.mins != nullptr)
    for (int c = 0; c < 16; ++c) identity_table = identity_table && w.lut[c] == static_cast<float>(c);
  if (int8_act && (K % 32 != 0 || (w.group_size != 0 && w.group_size < 32) || !identity_table))
    throw Napi::RangeError::New(env, "int8 activations need K % 32 == 0, groupSize 0 or >= 32, and 4-bit codes with mins to be their values");
  Napi::Object q = info[3].As<Napi::Object>();
  return run_keeping(info, info[7].ToBoolean(), [=] { sparq::linear_quant(x, N, K, w, M, bias, y, int8_act); }, info[6], [&] {
    return std::vector<Napi::Value>{info[0], q.Get("codes"), q.Get("scales"), q.Get("mins"), q.Get("lut"), info[5], info[6]};
  });
}

// A typed array property of o with at least `count` elements; sets *length.
template <typename T>
T* typed_prop_min(Napi::Env env, const Napi::Object& o, const char* name, napi_typedarray_type type,
                  size_t count, size_t* length) {
  Napi::Value v = o.Get(name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, std::string("Expected a typed array of the right type for ") + name);
  *length = v.As<Napi::TypedArray>().ElementLength();
  if (*length < count) {
    throw Napi::RangeError::New(env, std::string("Expected at least ") + std::to_string(count) +
                                         " elements for " + name + " but received " + std::to_string(*length));
  }
  return typed_view<T>(env, v, type, name, *length);
}

// A sparse weight description (lib/binding.ts NativeSparseWeights) for an
// [M, K] matrix. Checks everything the kernels' memory accesses depend on, in
// O(offsets) time: offsets nondecreasing and inside values (and cols or
// panelCols), at most kEllPanel vectors per ell panel (the size of the ell
// kernels' stage); for bitmap, the rows near the end of values must not
// select more values than remain. Masks and column indices are otherwise trusted for
// values, not for memory (kernels clamp column indices to K; ell's are below
// 128 within a panel of x padded to whole panels).
sparq::SparseWeights sparse_arg(const Napi::CallbackInfo& info, size_t index, size_t M, size_t K) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsObject())
    throw Napi::TypeError::New(env, "Expected an object for the sparse weights");
  Napi::Object o = info[index].As<Napi::Object>();
  const auto number = [&](const char* name) {
    Napi::Value v = o.Get(name);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
      throw Napi::RangeError::New(env, std::string("Expected a non-negative integer for ") + name);
    return static_cast<uint32_t>(d);
  };
  sparq::SparseWeights w{};
  const uint32_t format = number("format"), value_type = number("valueType");
  if (format > 3 || value_type > 4) throw Napi::RangeError::New(env, "Unknown sparse format or value type");
  w.format = static_cast<sparq::SparseFormat>(format);
  w.value_type = static_cast<WeightType>(value_type);
  const napi_typedarray_type vt = w.value_type == WeightType::kF32     ? napi_float32_array
                                  : w.value_type == WeightType::kI8   ? napi_int8_array
                                  : w.value_type == WeightType::kLut4 ? napi_uint8_array
                                                                      : napi_uint16_array;
  if (w.value_type == WeightType::kI8) w.scales = typed_prop<const float>(env, o, "scales", napi_float32_array, M);
  if (w.value_type == WeightType::kLut4)
    w.lut = typed_prop<const float>(env, o, "lut", napi_float32_array, checked_mul(env, M, 16));
  size_t values_len = 0, len = 0;
  size_t entries = 0;  // values the format stores
  if (w.format == sparq::SparseFormat::kNm) {
    w.n = number("n");
    w.group = number("group");
    if ((w.group != 4 && w.group != 8) || w.n < 1 || w.n >= w.group ||
        w.n * sparq::nm_index_bits(w.group) > 12 || K % w.group != 0)
      throw Napi::RangeError::New(env, "Expected group 4 or 8, 1 <= n < group, n * log2(group) <= 12 and K % group == 0");
    entries = checked_mul(env, M, K / w.group * w.n);
    w.codes = typed_prop_min<const uint8_t>(env, o, "codes", napi_uint8_array,
                                            checked_mul(env, M, sparq::nm_code_stride(K, w.n, w.group)) + 8, &len);
  } else {
    const size_t slots = w.format == sparq::SparseFormat::kCsr   ? checked_mul(env, M, sparq::csr_blocks(K))
                         : w.format == sparq::SparseFormat::kEll ? checked_mul(env, sparq::ell_groups(M), sparq::ell_panels(K))
                                                                  : M;
    w.offsets = typed_prop_min<const uint32_t>(env, o, "offsets", napi_uint32_array, slots + 1, &len);
    if (len != slots + 1) throw Napi::RangeError::New(env, "Expected " + std::to_string(slots + 1) + " offsets");
    if (w.offsets[0] != 0) throw Napi::RangeError::New(env, "Expected offsets[0] = 0");
    for (size_t i = 0; i < slots; ++i)
      if (w.offsets[i + 1] < w.offsets[i]) throw Napi::RangeError::New(env, "Expected nondecreasing offsets");
    entries = w.offsets[slots];
    if (w.format == sparq::SparseFormat::kCsr) {
      w.cols = typed_prop_min<const uint16_t>(env, o, "cols", napi_uint16_array, entries + sparq::kSparsePad, &len);
    } else if (w.format == sparq::SparseFormat::kEll) {
      if (w.value_type == WeightType::kLut4) throw Napi::RangeError::New(env, "Expected float or int8 values for format ell");
      for (size_t i = 0; i < slots; ++i)  // a row stores at most 128 columns of a panel
        if (w.offsets[i + 1] - w.offsets[i] > sparq::kEllPanel)
          throw Napi::RangeError::New(env, "Expected at most " + std::to_string(sparq::kEllPanel) + " vectors per ell panel");
      entries = checked_mul(env, entries, sparq::kEllRows);  // offsets count vectors of 16 entries
      w.panel_cols = typed_prop_min<const uint8_t>(env, o, "panelCols", napi_uint8_array, entries + sparq::kSparsePad, &len);
    } else {
      w.masks = typed_prop_min<const uint16_t>(env, o, "masks", napi_uint16_array,
                                               checked_mul(env, M, sparq::bitmap_tiles(K)), &len);
    }
  }
  w.values = typed_prop_min<const void>(env, o, "values", vt, sparq::sparse_values_length(w.value_type, entries), &values_len);
  if (w.format == sparq::SparseFormat::kBitmap) {
    // A row reads at most popcount(its masks) + kSparsePad values from its
    // offset: `room` values may be selected (two per byte for kLut4).
    const size_t tiles = sparq::bitmap_tiles(K);
    const size_t room = w.value_type == WeightType::kLut4 ? 2 * (values_len - sparq::kSparsePad) : values_len - sparq::kSparsePad;
    for (size_t m = M; m-- > 0;) {
      if (w.offsets[m] + tiles * sparq::kBitmapTile <= room) break;
      size_t count = 0;
      for (size_t t = 0; t < tiles; ++t) count += __builtin_popcount(w.masks[m * tiles + t]);
      if (w.offsets[m] + count > room) throw Napi::RangeError::New(env, "Bitmap masks select more values than stored");
    }
  }
  return w;
}

// linearSparse(x, N, K, w, M, bias | null, y, async); w's arrays are kept
// alive with the call.
Napi::Value LinearSparse(const Napi::CallbackInfo& info) {
  const auto [N, K, M, x, bias, y] = linear_io(info);
  const sparq::SparseWeights w = sparse_arg(info, 3, M, K);
  Napi::Object o = info[3].As<Napi::Object>();
  return run_keeping(info, info[7].ToBoolean(), [=] { sparq::linear_sparse(x, N, K, w, M, bias, y); }, info[6], [&] {
    return std::vector<Napi::Value>{info[0], o.Get("values"), o.Get("offsets"), o.Get("masks"), o.Get("cols"),
                                    o.Get("panelCols"), o.Get("codes"), o.Get("scales"), o.Get("lut"), info[5], info[6]};
  });
}

// dequantize(q, M, K, out)
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t M = size_arg(info, 1, "M"), K = size_arg(info, 2, "K");
  const sparq::QuantWeights w = quant_arg(info, 0, M, K);
  float* out = typed_data<float>(info, 3, napi_float32_array, "out", checked_mul(env, M, K));
  sparq::dequantize(w, M, K, out);
  return info[3];
}

// ---------------------------------------------------------------- k-means

double number_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index >= info.Length() || !info[index].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string("Expected a number for ") + name);
  const double v = info[index].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || !std::isfinite(v)) throw Napi::RangeError::New(info.Env(), std::string("Expected a finite number >= 0 for ") + name);
  return v;
}

sparq::WeightType value_type_arg(const Napi::CallbackInfo& info, size_t index) {
  const size_t t = size_arg(info, index, "vtype");
  if (t > 2) throw Napi::RangeError::New(info.Env(), "Expected 0..2 for vtype");
  return static_cast<sparq::WeightType>(t);
}

// Values of type t with `n` elements (Float32Array or Uint16Array).
const void* values_arg(const Napi::CallbackInfo& info, size_t index, sparq::WeightType t, const char* name, size_t* n) {
  if (!info[index].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string("Expected a typed array for ") + name);
  *n = info[index].As<Napi::TypedArray>().ElementLength();
  if (t == sparq::WeightType::kF32) return typed_data<const float>(info, index, napi_float32_array, name, *n);
  return typed_data<const uint16_t>(info, index, napi_uint16_array, name, *n);
}

// kmeans1d(values, vtype, weights | null, k, centroids: Float64Array(k),
//          assignments: Int32Array(n) | null, stats: Float64Array(4), async)
// stats = [status, bad index, inertia, clusters].
// quantFit(w: Float32Array, offsets: Uint32Array(groups + 1) | null, size,
//          groups, scheme, bits, search, out: Float64Array(2 groups))
// Group g is w[offsets[g], offsets[g + 1]), or w[g size, (g + 1) size).
Napi::Value QuantFit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t n = info[0].IsTypedArray() ? info[0].As<Napi::TypedArray>().ElementLength() : 0;
  const float* w = typed_data<const float>(info, 0, napi_float32_array, "w", n);
  const size_t size = size_arg(info, 2, "size"), groups = size_arg(info, 3, "groups");
  const uint32_t* off = nullptr;
  if (!info[1].IsNull()) {
    off = typed_data<const uint32_t>(info, 1, napi_uint32_array, "offsets", groups + 1);
    for (size_t g = 0; g < groups; ++g)
      if (off[g + 1] < off[g]) throw Napi::RangeError::New(env, "Expected nondecreasing offsets");
    if (off[groups] > n) throw Napi::RangeError::New(env, "Expected offsets inside w");
  } else if (checked_mul(env, size, groups) > n) {
    throw Napi::RangeError::New(env, "Expected groups * size <= w.length");
  }
  const size_t scheme = size_arg(info, 4, "scheme"), bits = size_arg(info, 5, "bits");
  if (scheme > 2 || (bits != 4 && bits != 8)) throw Napi::RangeError::New(env, "Expected scheme 0..2 and bits 4 or 8");
  double* out = typed_data<double>(info, 7, napi_float64_array, "out", checked_mul(env, groups, 2));
  sparq::fit_quant_groups(w, off, size, groups, static_cast<sparq::QuantScheme>(scheme), static_cast<unsigned>(bits),
                          info[6].ToBoolean(), out);
  return env.Undefined();
}

Napi::Value Kmeans1d(const Napi::CallbackInfo& info) {
  const sparq::WeightType t = value_type_arg(info, 1);
  size_t n = 0;
  const void* values = values_arg(info, 0, t, "values", &n);
  const float* weights = optional_f32(info, 2, "weights", n);
  const size_t k = size_arg(info, 3, "k");
  if (k < 1) throw Napi::RangeError::New(info.Env(), "Expected k >= 1");
  double* centroids = typed_data<double>(info, 4, napi_float64_array, "centroids", k);
  int32_t* assignments = info[5].IsNull() ? nullptr : typed_data<int32_t>(info, 5, napi_int32_array, "assignments", n);
  double* stats = typed_data<double>(info, 6, napi_float64_array, "stats", 4);
  return run(info, info[7].ToBoolean(), [=] {
    std::vector<double> c;
    double inertia = 0;
    size_t bad = 0;
    const int status = sparq::kmeans1d(values, t, n, weights, k, &c, n ? assignments : nullptr, &inertia, &bad);
    stats[0] = status;
    stats[1] = static_cast<double>(bad);
    stats[2] = inertia;
    stats[3] = static_cast<double>(c.size());
    for (size_t i = 0; i < c.size(); ++i) centroids[i] = c[i];
  }, info[6], {info[0], info[2], info[4], info[5], info[6]});
}

// kmeans(points, n, dim, weights | null, k, maxIter, tolerance, seed,
//        centroids: Float32Array(k * dim), assignments: Int32Array(n),
//        stats: Float64Array(5 + maxIter + 1), async)
// stats = [status, bad index, inertia, clusters, iterations, history...].
Napi::Value Kmeans(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t n = size_arg(info, 1, "n"), dim = size_arg(info, 2, "dim"), k = size_arg(info, 4, "k");
  const size_t max_iter = size_arg(info, 5, "maxIter");
  const double tolerance = number_arg(info, 6, "tolerance");
  const uint64_t seed = static_cast<uint64_t>(number_arg(info, 7, "seed"));
  if (dim < 1 || k < 1 || n < 1) throw Napi::RangeError::New(env, "Expected n, dim and k >= 1");
  if (max_iter > 100000) throw Napi::RangeError::New(env, "Expected maxIter <= 100000");
  const float* points = typed_data<const float>(info, 0, napi_float32_array, "points", checked_mul(env, n, dim));
  const float* weights = optional_f32(info, 3, "weights", n);
  float* centroids = typed_data<float>(info, 8, napi_float32_array, "centroids", checked_mul(env, k, dim));
  int32_t* assignments = typed_data<int32_t>(info, 9, napi_int32_array, "assignments", n);
  double* stats = typed_data<double>(info, 10, napi_float64_array, "stats", 6 + max_iter);
  return run(info, info[11].ToBoolean(), [=] {
    const sparq::LloydOptions opt{k, max_iter, tolerance, seed};
    const sparq::LloydResult r = sparq::kmeans_lloyd(points, n, dim, weights, opt, centroids, assignments);
    stats[0] = 0;
    stats[1] = 0;
    stats[2] = r.inertia;
    stats[3] = static_cast<double>(r.clusters);
    stats[4] = static_cast<double>(r.iterations);
    for (size_t i = 0; i < r.history.size() && i <= max_iter; ++i) stats[5 + i] = r.history[i];
  }, info[10], {info[0], info[3], info[8], info[9], info[10]});
}

// cluster(w, vtype, M, K, importance | null, bits, dim, rowsPerBook,
//         codebookType, maxIter, tolerance, seed, codebook, indices,
//         stats: Float64Array(2), async); stats = [status, bad index].
Napi::Value Cluster(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const sparq::WeightType t = value_type_arg(info, 1);
  const size_t M = size_arg(info, 2, "M"), K = size_arg(info, 3, "K");
  const size_t MK = checked_mul(env, M, K);
  const void* w = t == sparq::WeightType::kF32
                      ? static_cast<const void*>(typed_data<const float>(info, 0, napi_float32_array, "w", MK))
                      : static_cast<const void*>(typed_data<const uint16_t>(info, 0, napi_uint16_array, "w", MK));
  const float* importance = optional_f32(info, 4, "importance", MK);
  sparq::ClusterOptions opt{};
  opt.bits = static_cast<unsigned>(size_arg(info, 5, "bits"));
  opt.dim = size_arg(info, 6, "dim");
  opt.rows_per_book = size_arg(info, 7, "rowsPerBook");
  const size_t cbt = size_arg(info, 8, "codebookType");
  opt.max_iter = size_arg(info, 9, "maxIter");
  opt.tolerance = number_arg(info, 10, "tolerance");
  opt.seed = static_cast<uint64_t>(number_arg(info, 11, "seed"));
  if (opt.bits < 1 || opt.bits > 8 || (opt.dim != 1 && opt.dim != 2 && opt.dim != 4 && opt.dim != 8) ||
      K % opt.dim != 0 || opt.rows_per_book < 1 || cbt > 1 || opt.max_iter > 100000)
    throw Napi::RangeError::New(env, "Expected bits 1..8, dim 1/2/4/8 dividing K, rowsPerBook >= 1, codebookType 0..1");
  opt.codebook_type = static_cast<sparq::ScaleType>(cbt);
  const size_t entries = checked_mul(env, sparq::clustered_books(M, opt.rows_per_book), (size_t{1} << opt.bits) * opt.dim);
  void* codebook = opt.codebook_type == sparq::ScaleType::kF16
                       ? static_cast<void*>(typed_data<uint16_t>(info, 12, napi_uint16_array, "codebook", entries))
                       : static_cast<void*>(typed_data<float>(info, 12, napi_float32_array, "codebook", entries));
  uint8_t* indices = typed_data<uint8_t>(info, 13, napi_uint8_array, "indices",
                                         checked_mul(env, M, sparq::clustered_row_bytes(K, opt.dim, opt.bits)));
  double* stats = typed_data<double>(info, 14, napi_float64_array, "stats", 2);
  return run(info, info[15].ToBoolean(), [=] {
    size_t bad = 0;
    const int status = sparq::cluster_weights(w, t, M, K, importance, opt, codebook, indices, &bad);
    stats[0] = status;
    stats[1] = static_cast<double>(bad);
  }, info[14], {info[0], info[4], info[12], info[13], info[14]});
}

// A clustered weight description { indices, codebook, codebookType, bits,
// dim, rowsPerBook } for an [M, K] matrix, checked against M and K.
sparq::ClusteredWeights clustered_arg(const Napi::CallbackInfo& info, size_t index, size_t M, size_t K) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsObject())
    throw Napi::TypeError::New(env, "Expected an object for the clustered weights");
  Napi::Object o = info[index].As<Napi::Object>();
  const auto number = [&](const char* name) {
    Napi::Value v = o.Get(name);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("Expected a number for ") + name);
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
      throw Napi::RangeError::New(env, std::string("Expected a non-negative integer for ") + name);
    return static_cast<size_t>(d);
  };
  sparq::ClusteredWeights w{};
  w.bits = static_cast<unsigned>(number("bits"));
  w.dim = number("dim");
  w.rows_per_book = number("rowsPerBook");
  const size_t cbt = number("codebookType");
  if (w.bits < 1 || w.bits > 8 || (w.dim != 1 && w.dim != 2 && w.dim != 4 && w.dim != 8) || K % w.dim != 0 ||
      w.rows_per_book < 1 || cbt > 1)
    throw Napi::RangeError::New(env, "Expected bits 1..8, dim 1/2/4/8 dividing K, rowsPerBook >= 1, codebookType 0..1");
  w.codebook_type = static_cast<sparq::ScaleType>(cbt);
  const size_t entries = checked_mul(env, sparq::clustered_books(M, w.rows_per_book), sparq::clustered_entries(w));
  w.codebook = w.codebook_type == sparq::ScaleType::kF16
                   ? static_cast<const void*>(typed_prop<const uint16_t>(env, o, "codebook", napi_uint16_array, entries))
                   : static_cast<const void*>(typed_prop<const float>(env, o, "codebook", napi_float32_array, entries));
  w.indices = typed_prop<const uint8_t>(env, o, "indices", napi_uint8_array,
                                        checked_mul(env, M, sparq::clustered_row_bytes(K, w.dim, w.bits)));
  return w;
}

// linearClustered(x, N, K, c, M, bias | null, y, async)
Napi::Value LinearClustered(const Napi::CallbackInfo& info) {
  const auto [N, K, M, x, bias, y] = linear_io(info);
  const sparq::ClusteredWeights w = clustered_arg(info, 3, M, K);
  Napi::Object c = info[3].As<Napi::Object>();
  if (info.Length() > 8 && info[8].IsObject()) {  // int8 activations, with the books from clusteredI8Books
    Napi::Env env = info.Env();
    if (!sparq::clustered_i8_supported(w)) throw Napi::RangeError::New(env, "int8 activations need bits 4 and dim 1");
    Napi::Object b = info[8].As<Napi::Object>();
    const size_t books = sparq::clustered_books(M, w.rows_per_book);
    const sparq::ClusteredI8Books i8{typed_prop<const uint8_t>(env, b, "tables", napi_uint8_array, checked_mul(env, books, 16)),
                                     typed_prop<const float>(env, b, "scales", napi_float32_array, books)};
    return run_keeping(info, info[7].ToBoolean(), [=] { sparq::linear_clustered_i8(x, N, K, w, i8, M, bias, y); }, info[6], [&] {
      return std::vector<Napi::Value>{info[0], c.Get("indices"), b.Get("tables"), b.Get("scales"), info[5], info[6]};
    });
  }
  return run_keeping(info, info[7].ToBoolean(), [=] { sparq::linear_clustered(x, N, K, w, M, bias, y); }, info[6], [&] {
    return std::vector<Napi::Value>{info[0], c.Get("indices"), c.Get("codebook"), info[5], info[6]};
  });
}

// clusteredI8Books(c, M, K, tables: Uint8Array(books * 16), scales: Float32Array(books))
Napi::Value ClusteredI8Books(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t M = size_arg(info, 1, "M"), K = size_arg(info, 2, "K");
  const sparq::ClusteredWeights w = clustered_arg(info, 0, M, K);
  if (!sparq::clustered_i8_supported(w)) throw Napi::RangeError::New(env, "int8 codebooks need bits 4 and dim 1");
  const size_t books = sparq::clustered_books(M, w.rows_per_book);
  uint8_t* tables = typed_data<uint8_t>(info, 3, napi_uint8_array, "tables", checked_mul(env, books, 16));
  float* scales = typed_data<float>(info, 4, napi_float32_array, "scales", books);
  sparq::clustered_i8_books(w, books, tables, scales);
  return env.Undefined();
}

// dequantizeClustered(c, M, K, out)
Napi::Value DequantizeClustered(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t M = size_arg(info, 1, "M"), K = size_arg(info, 2, "K");
  const sparq::ClusteredWeights w = clustered_arg(info, 0, M, K);
  float* out = typed_data<float>(info, 3, napi_float32_array, "out", checked_mul(env, M, K));
  sparq::dequantize_clustered(w, M, K, out);
  return info[3];
}

// alignmentPadding(buffer): the bytes from the start of an ArrayBuffer to
// its first 64-byte aligned address (lib/memory.ts places weight storage
// there: kernels load whole 64-byte blocks, and a block split over two cache
// lines streams slower).
Napi::Value AlignmentPadding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "Expected an ArrayBuffer for buffer");
  const auto address = reinterpret_cast<uintptr_t>(info[0].As<Napi::ArrayBuffer>().Data());
  return Napi::Number::New(env, static_cast<double>((64 - address % 64) % 64));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const char* requested = std::getenv("SPARQ_ISA");
  const char* error = nullptr;
  if (!sparq::init_kernels(requested, &error)) throw Napi::RangeError::New(env, error);
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("alignmentPadding", Napi::Function::New(env, AlignmentPadding));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("convertToHalf", Napi::Function::New(env, ConvertToHalf));
  exports.Set("convertFromHalf", Napi::Function::New(env, ConvertFromHalf));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite));
  exports.Set("linear", Napi::Function::New(env, Linear));
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("linearQuant", Napi::Function::New(env, LinearQuant));
  exports.Set("linearSparse", Napi::Function::New(env, LinearSparse));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize));
  exports.Set("quantFit", Napi::Function::New(env, QuantFit));
  exports.Set("kmeans1d", Napi::Function::New(env, Kmeans1d));
  exports.Set("kmeans", Napi::Function::New(env, Kmeans));
  exports.Set("cluster", Napi::Function::New(env, Cluster));
  exports.Set("linearClustered", Napi::Function::New(env, LinearClustered));
  exports.Set("dequantizeClustered", Napi::Function::New(env, DequantizeClustered));
  exports.Set("clusteredI8Books", Napi::Function::New(env, ClusteredI8Books));
  return exports;
}

}  // namespace

NODE_API_MODULE(sparq, Init)

// Node-API glue: unwrap typed arrays, re-check sizes, call the core, and run
// long work on the libuv pool behind a Promise. No math here. The TypeScript
// layer (lib/) validates arguments and builds the messages users see; checks
// here are a second line that keeps bad calls from touching memory.
#include <napi.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../core/convert.h"
#include "../core/cpu.h"
#include "../core/kernels.h"
#include "../core/linear.h"
#include "../core/quant.h"
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
  const float* bias = info[6].IsNull() || info[6].IsUndefined()
                          ? nullptr
                          : typed_data<const float>(info, 6, napi_float32_array, "bias", M);
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

// linearQuant(x, N, K, q, M, bias | null, y, async, int8Activations); q is
// kept alive with the call.
Napi::Value LinearQuant(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t N = size_arg(info, 1, "N"), K = size_arg(info, 2, "K"), M = size_arg(info, 4, "M");
  const float* x = typed_data<const float>(info, 0, napi_float32_array, "x", checked_mul(env, N, K));
  const sparq::QuantWeights w = quant_arg(info, 3, M, K);
  const float* bias = info[5].IsNull() || info[5].IsUndefined()
                          ? nullptr
                          : typed_data<const float>(info, 5, napi_float32_array, "bias", M);
  float* y = typed_data<float>(info, 6, napi_float32_array, "y", checked_mul(env, N, M));
  const bool int8_act = info[8].ToBoolean();
  if (int8_act && (K % 32 != 0 || (w.group_size != 0 && w.group_size < 32) ||
                   (w.code_type == sparq::CodeType::kNibble && w.mins == nullptr && w.lut != nullptr &&
                    w.lut[0] != -8.0f)))
    throw Napi::RangeError::New(env, "int8 activations need K % 32 == 0, groupSize 0 or >= 32 and uniform codes");
  Napi::Object q = info[3].As<Napi::Object>();
  return run(info, info[7].ToBoolean(), [=] { sparq::linear_quant(x, N, K, w, M, bias, y, int8_act); }, info[6],
             {info[0], q.Get("codes"), q.Get("scales"), q.Get("mins"), q.Get("lut"), info[5], info[6]});
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
// O(M) time: offsets nondecreasing and inside values (and cols); for bitmap,
// the rows near the end of values must not select more values than remain.
// Masks and column indices are otherwise trusted for values, not for memory
// (kernels clamp column indices to K).
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
  if (format > 2 || value_type > 2) throw Napi::RangeError::New(env, "Unknown sparse format or value type");
  w.format = static_cast<sparq::SparseFormat>(format);
  w.value_type = static_cast<WeightType>(value_type);
  const napi_typedarray_type vt = w.value_type == WeightType::kF32 ? napi_float32_array : napi_uint16_array;
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
    const size_t slots = w.format == sparq::SparseFormat::kCsr ? checked_mul(env, M, sparq::csr_blocks(K)) : M;
    w.offsets = typed_prop_min<const uint32_t>(env, o, "offsets", napi_uint32_array, slots + 1, &len);
    if (len != slots + 1) throw Napi::RangeError::New(env, "Expected " + std::to_string(slots + 1) + " offsets");
    if (w.offsets[0] != 0) throw Napi::RangeError::New(env, "Expected offsets[0] = 0");
    for (size_t i = 0; i < slots; ++i)
      if (w.offsets[i + 1] < w.offsets[i]) throw Napi::RangeError::New(env, "Expected nondecreasing offsets");
    entries = w.offsets[slots];
    if (w.format == sparq::SparseFormat::kCsr) {
      w.cols = typed_prop_min<const uint16_t>(env, o, "cols", napi_uint16_array, entries + sparq::kSparsePad, &len);
    } else {
      w.masks = typed_prop_min<const uint16_t>(env, o, "masks", napi_uint16_array,
                                               checked_mul(env, M, sparq::bitmap_tiles(K)), &len);
    }
  }
  w.values = typed_prop_min<const void>(env, o, "values", vt, entries + sparq::kSparsePad, &values_len);
  if (w.format == sparq::SparseFormat::kBitmap) {
    // A row reads at most popcount(its masks) + kSparsePad values from its offset.
    const size_t tiles = sparq::bitmap_tiles(K), room = values_len - sparq::kSparsePad;
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
  Napi::Env env = info.Env();
  const size_t N = size_arg(info, 1, "N"), K = size_arg(info, 2, "K"), M = size_arg(info, 4, "M");
  const float* x = typed_data<const float>(info, 0, napi_float32_array, "x", checked_mul(env, N, K));
  const sparq::SparseWeights w = sparse_arg(info, 3, M, K);
  const float* bias = info[5].IsNull() || info[5].IsUndefined()
                          ? nullptr
                          : typed_data<const float>(info, 5, napi_float32_array, "bias", M);
  float* y = typed_data<float>(info, 6, napi_float32_array, "y", checked_mul(env, N, M));
  Napi::Object o = info[3].As<Napi::Object>();
  return run(info, info[7].ToBoolean(), [=] { sparq::linear_sparse(x, N, K, w, M, bias, y); }, info[6],
             {info[0], o.Get("values"), o.Get("offsets"), o.Get("masks"), o.Get("cols"), o.Get("codes"),
              info[5], info[6]});
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const char* requested = std::getenv("SPARQ_ISA");
  const char* error = nullptr;
  if (!sparq::init_kernels(requested, &error)) throw Napi::RangeError::New(env, error);
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("convertToHalf", Napi::Function::New(env, ConvertToHalf));
  exports.Set("convertFromHalf", Napi::Function::New(env, ConvertFromHalf));
  exports.Set("linear", Napi::Function::New(env, Linear));
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("linearQuant", Napi::Function::New(env, LinearQuant));
  exports.Set("linearSparse", Napi::Function::New(env, LinearSparse));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize));
  return exports;
}

}  // namespace

NODE_API_MODULE(sparq, Init)

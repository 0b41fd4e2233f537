#include <mutex>
#include <string>

#include "kernels.h"
#include "kernels/convert/convert_kernels.h"
#include "kernels/kmeans/assign.h"
#include "kernels/linear/clustered.h"
#include "kernels/linear/dense.h"
#include "kernels/linear/quant.h"
#include "kernels/linear/sparse.h"

namespace sparq {

const KernelTable kScalarKernels = {
    Isa::kScalar,
    {linear_dense_f32_ref, linear_dense_f16_ref, linear_dense_bf16_ref},
    nullptr,
    linear_quant_ref,
    linear_quant_i8_pack_ref,
    linear_quant_i8_ref,
    {linear_sparse_ref, linear_sparse_ref, linear_sparse_ref, linear_sparse_ref},
    nullptr,
    linear_clustered_ref,
    clustered_i8_pack_row_ref,
    linear_clustered_i8_ref,
    kmeans_assign_ref,
    f32_to_f16_ref, f16_to_f32_ref, f32_to_bf16_ref, bf16_to_f32_ref,
};

const KernelTable kAvx2Kernels = {
    Isa::kAvx2,
    {linear_dense_f32_avx2, linear_dense_f16_avx2, linear_dense_bf16_avx2},
    nullptr,
    linear_quant_avx2,
    linear_quant_i8_pack_avx2,
    linear_quant_i8_avx2,
    {linear_bitmap_avx2, linear_csr_avx2, linear_nm_avx2, linear_ell_avx2},
    nullptr,
    linear_clustered_avx2,
    clustered_i8_pack_row_avx2,
    linear_clustered_i8_avx2,
    kmeans_assign_avx2,
    f32_to_f16_avx2, f16_to_f32_avx2, f32_to_bf16_avx2, bf16_to_f32_avx2,
};

const KernelTable kAvx512Kernels = {
    Isa::kAvx512,
    {linear_dense_f32_avx512, linear_dense_f16_avx512, linear_dense_bf16_avx512},
    linear_pack_x_avx512,
    linear_quant_avx512,
    linear_quant_i8_pack_avx2,  // these two are replaced by the VNNI pair when the CPU has VNNI (select())
    linear_quant_i8_avx2,
    {linear_bitmap_avx512, linear_csr_avx512, linear_nm_avx512, linear_ell_avx512},
    linear_pack_xt_avx512,
    linear_clustered_avx512,
    clustered_i8_pack_row_avx2,  // these two are replaced by the VNNI pair when the CPU has VNNI (select())
    linear_clustered_i8_avx2,
    kmeans_assign_avx512,
    f32_to_f16_avx512, f16_to_f32_avx512, f32_to_bf16_avx512, bf16_to_f32_avx512,
};

namespace {

const KernelTable* g_active = nullptr;
KernelTable g_selected;
std::once_flag g_once;
std::string g_error;

const KernelTable* table_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return &kAvx512Kernels;
    case Isa::kAvx2: return &kAvx2Kernels;
    case Isa::kScalar: break;
  }
  return &kScalarKernels;
}

void select(const char* requested) {
  const Isa best = detected_isa();
  Isa isa = best;
  if (requested != nullptr && requested[0] != '\0') {
    if (!parse_isa(requested, &isa)) {
      g_error = std::string("SPARQ_ISA: expected one of scalar, avx2, avx512 but received '") +
                requested + "'";
      return;
    }
    if (static_cast<int>(isa) > static_cast<int>(best)) {
      g_error = std::string("SPARQ_ISA: this CPU supports up to '") + isa_name(best) +
                "' but received '" + requested + "'";
      return;
    }
  }
  g_selected = *table_for(isa);
  if (isa == Isa::kAvx512 && cpu_features().avx512_vnni) {
    g_selected.linear_quant_i8_pack = linear_quant_i8_pack_avx512vnni;
    g_selected.linear_quant_i8 = linear_quant_i8_avx512vnni;
    g_selected.linear_clustered_i8_pack = clustered_i8_pack_row_avx512vnni;
    g_selected.linear_clustered_i8 = linear_clustered_i8_avx512vnni;
  }
  g_active = &g_selected;
}

}  // namespace

bool init_kernels(const char* requested, const char** error) {
  std::call_once(g_once, select, requested);
  if (g_active == nullptr) {
    *error = g_error.c_str();
    return false;
  }
  return true;
}

const KernelTable& kernels() { return *g_active; }

}  // namespace sparq

// N-API binding to the system CBLAS (Debian's OpenBLAS): batched sgemm over Float32Array views.
// Views may alias the wasm heap of @tensorflow/tfjs-backend-wasm, so no copies are made.
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define CHECK(call, msg)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error(env, "PI0FAST_BLAS", msg);          \
      return NULL;                                         \
    }                                                      \
  } while (0)

static bool get_f32(napi_env env, napi_value v, float** data, size_t* length) {
  napi_typedarray_type type;
  void* ptr;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buffer, &offset) != napi_ok) return false;
  if (type != napi_float32_array) return false;
  *data = (float*)ptr;
  return true;
}

static bool get_i64(napi_env env, napi_value v, int64_t* out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

// sgemmBatched(batch, transA, transB, m, n, k, a, aStride, b, bStride, c)
// C[i] = op(A[i]) · op(B[i]) for i < batch, row-major; a stride of 0 broadcasts that operand.
static napi_value SgemmBatched(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "cannot read arguments");
  if (argc != 11) {
    napi_throw_type_error(env, "PI0FAST_BLAS", "sgemmBatched expects 11 arguments");
    return NULL;
  }
  int64_t batch, m, n, k, aStride, bStride;
  bool transA, transB;
  float *a, *b, *c;
  size_t aLen, bLen, cLen;
  if (!get_i64(env, argv[0], &batch) || napi_get_value_bool(env, argv[1], &transA) != napi_ok ||
      napi_get_value_bool(env, argv[2], &transB) != napi_ok || !get_i64(env, argv[3], &m) ||
      !get_i64(env, argv[4], &n) || !get_i64(env, argv[5], &k) || !get_f32(env, argv[6], &a, &aLen) ||
      !get_i64(env, argv[7], &aStride) || !get_f32(env, argv[8], &b, &bLen) ||
      !get_i64(env, argv[9], &bStride) || !get_f32(env, argv[10], &c, &cLen)) {
    napi_throw_type_error(env, "PI0FAST_BLAS",
                          "sgemmBatched(batch, transA, transB, m, n, k, a: Float32Array, aStride, "
                          "b: Float32Array, bStride, c: Float32Array)");
    return NULL;
  }
  if (batch < 0 || m < 0 || n < 0 || k < 0 || aStride < 0 || bStride < 0 ||
      (size_t)((batch > 0 ? batch - 1 : 0) * aStride + m * k) > aLen ||
      (size_t)((batch > 0 ? batch - 1 : 0) * bStride + k * n) > bLen || (size_t)(batch * m * n) > cLen) {
    napi_throw_range_error(env, "PI0FAST_BLAS", "sgemmBatched: operand views are smaller than the shapes");
    return NULL;
  }
  const int lda = transA ? (int)m : (int)k;
  const int ldb = transB ? (int)k : (int)n;
  for (int64_t i = 0; i < batch; i++) {
    if (k == 0) {
      for (int64_t j = 0; j < m * n; j++) c[i * m * n + j] = 0.0f;
      continue;
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a + i * aStride, lda, b + i * bStride, ldb, 0.0f,
                c + i * m * n, (int)n);
  }
  return NULL;
}

static napi_value Threads(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_int32(env, openblas_get_num_threads(), &out);
  return out;
}

static napi_value Config(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemmBatched", NULL, SgemmBatched, NULL, NULL, NULL, napi_default, NULL},
      {"threads", NULL, Threads, NULL, NULL, NULL, napi_default, NULL},
      {"config", NULL, Config, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

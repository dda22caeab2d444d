{
  "targets": [
    {
      "target_name": "pi0fast_blas",
      "sources": ["src/blas.c"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/x86_64-linux-gnu"],
      "libraries": ["-lopenblas"],
      "cflags": ["-O3", "-std=c11"]
    }
  ]
}

/* MPI_Allreduce (MPI_SUM, MPI_FLOAT, in place) bandwidth from C, the reference for run.mjs.
   Usage: mpiexec -n 2 ./allreduce <floats> <iterations>; rank 0 prints "C <seconds per call>". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, n = argc > 1 ? atoi(argv[1]) : 4800000, iters = argc > 2 ? atoi(argv[2]) : 20;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  float *buf = malloc(sizeof(float) * (size_t)n);
  for (int i = 0; i < n; i++) buf[i] = (float)(i % 97) * 1e-3f;
  for (int i = 0; i < 10; i++) MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int i = 0; i < iters; i++) MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  double dt = (MPI_Wtime() - t0) / iters;
  if (rank == 0) printf("C %.9f\n", dt);
  free(buf);
  MPI_Finalize();
  return 0;
}

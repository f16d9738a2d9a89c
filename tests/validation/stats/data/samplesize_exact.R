# Reference values for validation/stats/samplesize.py::exact_sample_size.
# Run once: Rscript tests/validation/stats/data/samplesize_exact.R > tests/validation/stats/data/samplesize_exact_R.csv
# Independent of medval's implementation: the Clopper-Pearson lower bound is
# computed directly with qbeta (as binom.test does), not through the binomial-tail duality.
cp_lower <- function(x, n, level) ifelse(x == 0, 0, qbeta((1 - level) / 2, x, n - x + 1))
power_at <- function(n, p, goal, level) {
  x <- 0:n
  ok <- cp_lower(x, n, level) >= goal
  if (!any(ok)) return(c(NA, 0))
  xmin <- min(x[ok])
  c(xmin, pbinom(xmin - 1, n, p, lower.tail = FALSE))
}
grid <- expand.grid(expected = c(0.85, 0.90, 0.95), goal = c(0.70, 0.75, 0.80), power = c(0.8, 0.9),
                    level = c(0.95, 0.90))
grid <- grid[grid$goal < grid$expected, ]
cat(sprintf("# R %s, base stats qbeta/pbinom; columns: expected,goal,power,level,n_first,xmin_first,power_first\n",
            paste(R.version$major, R.version$minor, sep = ".")))
cat("expected,goal,power,level,n_first,xmin_first,power_first\n")
for (i in seq_len(nrow(grid))) {
  g <- grid[i, ]
  for (n in 1:3000) {
    r <- power_at(n, g$expected, g$goal, g$level)
    if (r[2] >= g$power) {
      cat(sprintf("%.2f,%.2f,%.2f,%.2f,%d,%d,%.12f\n", g$expected, g$goal, g$power, g$level, n, r[1], r[2]))
      break
    }
  }
}

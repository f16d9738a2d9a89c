# Reference values for medval's statistics tests, computed with R from Debian.
#
# Run once from the repository root:
#     Rscript tests/validation/stats/data/make_reference.R
# It writes, next to this script:
#     r_reference.json   every value below with the exact R call that made it
#     roc_data.csv       the synthetic scores the ROC references are computed on
# The test suite reads those files and never needs R. Versions of R, pROC and
# epiR are recorded in r_reference.json ("versions").

suppressMessages({
  library(jsonlite)
  library(pROC)
  library(epiR)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script)) dirname(normalizePath(script)) else "."

num <- function(x) unname(as.numeric(x))

# ---- single proportions: binom.test (Clopper-Pearson), prop.test (Wilson, Wilson-cc)
pairs <- list(c(0, 1), c(1, 1), c(0, 10), c(1, 10), c(5, 10), c(9, 10), c(10, 10),
              c(0, 20), c(1, 29), c(15, 148), c(81, 263), c(3, 7), c(50, 100),
              c(999, 1000), c(1, 2), c(37, 40))
levels <- c(0.90, 0.95, 0.99)
single <- list()
p0cc <- function(x, n) if (abs(x - n * 0.5) >= 0.5) 0.5 else 0.9
for (pr in pairs) for (cl in levels) {
  x <- pr[1]; n <- pr[2]
  single[[length(single) + 1]] <- list(
    x = x, n = n, conf_level = cl,
    clopper_pearson = num(binom.test(x, n, conf.level = cl)$conf.int),
    clopper_pearson_call = sprintf("binom.test(%d, %d, conf.level = %.2f)$conf.int", x, n, cl),
    wilson = num(suppressWarnings(prop.test(x, n, conf.level = cl, correct = FALSE))$conf.int),
    wilson_call = sprintf("prop.test(%d, %d, conf.level = %.2f, correct = FALSE)$conf.int", x, n, cl),
    # prop.test shrinks the continuity correction to |x - n p| when that is < 1/2 (p = the
    # null value, 0.5 by default); choose p so the full 1/2 correction (Newcombe method 4) applies.
    wilson_cc = num(suppressWarnings(prop.test(x, n, p = p0cc(x, n), conf.level = cl, correct = TRUE))$conf.int),
    wilson_cc_call = sprintf("prop.test(%d, %d, p = %.1f, conf.level = %.2f, correct = TRUE)$conf.int", x, n, p0cc(x, n), cl)
  )
}

# ---- two independent proportions: prop.test(correct = FALSE) gives the Wald difference interval
indep <- list()
for (q in list(c(56, 70, 48, 80), c(9, 10, 3, 10), c(6, 7, 2, 7), c(5, 56, 0, 29),
               c(30, 100, 45, 120))) {
  r <- suppressWarnings(prop.test(c(q[1], q[3]), c(q[2], q[4]), correct = FALSE))
  indep[[length(indep) + 1]] <- list(
    x1 = q[1], n1 = q[2], x2 = q[3], n2 = q[4], wald = num(r$conf.int),
    call = sprintf("prop.test(c(%d, %d), c(%d, %d), correct = FALSE)$conf.int", q[1], q[3], q[2], q[4]))
}

# ---- McNemar: mcnemar.test (asymptotic, with/without correction); exact = binom.test(b, b + c)
mcn <- list()
for (q in list(c(10, 5), c(12, 2), c(6, 16), c(1, 7), c(30, 31), c(0, 4))) {
  b <- q[1]; cc <- q[2]
  m <- matrix(c(20, b, cc, 20), 2, byrow = TRUE)
  mcn[[length(mcn) + 1]] <- list(
    b = b, c = cc,
    asymptotic_corrected = num(mcnemar.test(m, correct = TRUE)$p.value),
    asymptotic = num(mcnemar.test(m, correct = FALSE)$p.value),
    exact = num(binom.test(b, b + cc, 0.5)$p.value),
    call = sprintf("mcnemar.test(matrix(c(20, %d, %d, 20), 2, byrow = TRUE), correct = TRUE/FALSE)$p.value; binom.test(%d, %d, 0.5)$p.value", b, cc, b, b + cc))
}

# ---- epiR::epi.tests: Se, Sp, PPV, NPV (Wilson and exact) and likelihood ratios
epi <- list()
for (q in list(c(90, 20, 10, 180), c(45, 12, 5, 138), c(17, 3, 8, 72))) {
  tab <- as.table(matrix(q, nrow = 2, byrow = TRUE))
  one <- list(tp = q[1], fp = q[2], fn = q[3], tn = q[4])
  for (meth in c("wilson", "exact")) {
    d <- epi.tests(tab, method = meth, conf.level = 0.95)$detail
    rows <- list()
    for (s in c("se", "sp", "pv.pos", "pv.neg", "diag.ac", "lr.pos", "lr.neg")) {
      k <- which(d$statistic == s)
      rows[[s]] <- c(d$est[k], d$lower[k], d$upper[k])
    }
    one[[meth]] <- rows
  }
  one$call <- sprintf("epi.tests(as.table(matrix(c(%d, %d, %d, %d), nrow = 2, byrow = TRUE)), method = 'wilson'|'exact', conf.level = 0.95)$detail",
                      q[1], q[2], q[3], q[4])
  epi[[length(epi) + 1]] <- one
}

# ---- ROC: synthetic scores with ties; pROC DeLong
set.seed(20260101)
n <- 300
y <- rbinom(n, 1, 0.35)
score_a <- round(rnorm(n, mean = 1.1 * y), 1)          # rounded: many ties
score_b <- round(0.6 * score_a + rnorm(n, mean = 0.5 * y, sd = 0.8), 2)
cluster <- rep(seq_len(n / 3), each = 3)
write.csv(data.frame(y = y, score_a = score_a, score_b = score_b, cluster = cluster),
          file.path(out_dir, "roc_data.csv"), row.names = FALSE)
ra <- roc(y, score_a, levels = c(0, 1), direction = "<", quiet = TRUE)
rb <- roc(y, score_b, levels = c(0, 1), direction = "<", quiet = TRUE)
cia <- ci.auc(ra, method = "delong", conf.level = 0.95)
cib <- ci.auc(rb, method = "delong", conf.level = 0.90)
tst <- roc.test(ra, rb, method = "delong", paired = TRUE)
roc_ref <- list(
  auc_a = num(cia)[c(2, 1, 3)], auc_a_var = num(var(ra, method = "delong")),
  auc_a_call = "ci.auc(roc(y, score_a, levels = c(0, 1), direction = '<'), method = 'delong', conf.level = 0.95)  # est, lower, upper",
  auc_b_90 = num(cib)[c(2, 1, 3)],
  auc_b_90_call = "ci.auc(roc(y, score_b, levels = c(0, 1), direction = '<'), method = 'delong', conf.level = 0.90)",
  paired_z = num(tst$statistic), paired_p = num(tst$p.value), paired_ci = num(tst$conf.int),
  paired_estimate = num(tst$estimate),
  paired_call = "roc.test(ra, rb, method = 'delong', paired = TRUE)  # statistic, p.value, conf.int (AUC_a - AUC_b)"
)

versions <- list(R = R.version.string, pROC = as.character(packageVersion("pROC")),
                 epiR = as.character(packageVersion("epiR")),
                 jsonlite = as.character(packageVersion("jsonlite")))

out <- list(versions = versions, single = single, independent = indep, mcnemar = mcn,
            epi_tests = epi, roc = roc_ref)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(out_dir, "r_reference.json"))
cat("wrote", file.path(out_dir, "r_reference.json"), "\n")

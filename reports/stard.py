"""The STARD 2015 checklist, item by item, mapped to the report section that answers it.

Item wording is abridged from Bossuyt PM, Reitsma JB, Bruns DE, et al.
STARD 2015: an updated list of essential items for reporting diagnostic
accuracy studies. BMJ 2015;351:h5527. doi:10.1136/bmj.h5527. The list has
30 numbered items; items 10, 12, 13 and 21 have parts a and b (34 rows).

Each row says honestly where the report answers the item, or that it is
"not applicable" to a standalone evaluation of a locked algorithm, or "not
reported" because results.json does not carry the information.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: (item, section of the paper, abridged item text)
ITEMS: tuple[tuple[str, str, str], ...] = (
    ("1", "Title or abstract", "Identification as a study of diagnostic accuracy using at least one measure of accuracy"),
    ("2", "Abstract", "Structured summary of study design, methods, results and conclusions"),
    ("3", "Introduction", "Scientific and clinical background, including the intended use and clinical role of the index test"),
    ("4", "Introduction", "Study objectives and hypotheses"),
    ("5", "Methods: design", "Whether data collection was planned before (prospective) or after (retrospective) the index test and reference standard were performed"),
    ("6", "Methods: participants", "Eligibility criteria"),
    ("7", "Methods: participants", "On what basis potentially eligible participants were identified"),
    ("8", "Methods: participants", "Where and when potentially eligible participants were identified (setting, location, dates)"),
    ("9", "Methods: participants", "Whether participants formed a consecutive, random or convenience series"),
    ("10a", "Methods: test methods", "Index test, in sufficient detail to allow replication"),
    ("10b", "Methods: test methods", "Reference standard, in sufficient detail to allow replication"),
    ("11", "Methods: test methods", "Rationale for choosing the reference standard (if alternatives exist)"),
    ("12a", "Methods: test methods", "Definition of and rationale for index-test positivity cut-offs, pre-specified vs exploratory"),
    ("12b", "Methods: test methods", "Definition of and rationale for reference-standard positivity cut-offs, pre-specified vs exploratory"),
    ("13a", "Methods: test methods", "Whether clinical information and reference-standard results were available to the performers of the index test"),
    ("13b", "Methods: test methods", "Whether clinical information and index-test results were available to the assessors of the reference standard"),
    ("14", "Methods: analysis", "Methods for estimating or comparing measures of diagnostic accuracy"),
    ("15", "Methods: analysis", "How indeterminate index-test or reference-standard results were handled"),
    ("16", "Methods: analysis", "How missing data on the index test and reference standard were handled"),
    ("17", "Methods: analysis", "Any analyses of variability in diagnostic accuracy, pre-specified vs exploratory"),
    ("18", "Methods: analysis", "Intended sample size and how it was determined"),
    ("19", "Results: participants", "Flow of participants, using a diagram"),
    ("20", "Results: participants", "Baseline demographic and clinical characteristics of participants"),
    ("21a", "Results: participants", "Distribution of severity of disease in those with the target condition"),
    ("21b", "Results: participants", "Distribution of alternative diagnoses in those without the target condition"),
    ("22", "Results: participants", "Time interval and any clinical interventions between index test and reference standard"),
    ("23", "Results: test results", "Cross tabulation of the index-test results (or their distribution) by the results of the reference standard"),
    ("24", "Results: test results", "Estimates of diagnostic accuracy and their precision (such as 95% confidence intervals)"),
    ("25", "Results: test results", "Any adverse events from performing the index test or the reference standard"),
    ("26", "Discussion", "Study limitations, including sources of potential bias, statistical uncertainty and generalisability"),
    ("27", "Discussion", "Implications for practice, including the intended use and clinical role of the index test"),
    ("28", "Other information", "Registration number and name of registry"),
    ("29", "Other information", "Where the full study protocol can be accessed"),
    ("30", "Other information", "Sources of funding and other support; role of funders"),
)


@dataclass(frozen=True, slots=True)
class ChecklistRow:
    """One STARD 2015 item: where this report answers it, and with what status."""

    item: str
    part: str
    text: str
    status: str  # "reported" | "not applicable" | "not reported"
    where: str

    def to_dict(self) -> dict:
        return asdict(self)


def checklist(*, has_confusion: bool, has_subgroups: bool, has_sample_size: bool) -> list[ChecklistRow]:
    """The 34 checklist rows for one report (see the module docstring).

    Parameters
    ----------
    has_confusion : bool
        The run has a 2×2 table (classification); otherwise item 23 is answered
        by the distribution of the index-test results (segmentation/detection).
    has_subgroups : bool
        Subgroup analyses are reported (item 17).
    has_sample_size : bool
        The protocol text states an intended sample size (item 18).
    """
    rep, na, nr = "reported", "not applicable", "not reported"
    answers: dict[str, tuple[str, str]] = {
        "1": (rep, "Title block and §6 (measures of accuracy)"),
        "2": (rep, "§2 Summary verdict (structured summary of endpoints, estimates and criteria)"),
        "3": (rep, "§3 Intended use and device description"),
        "4": (rep, "§2 acceptance criteria (pre-specified hypotheses on CI bounds); Appendix A protocol"),
        "5": (rep, "§4 Cohort: sequestered, versioned cohort scored retrospectively under a protocol locked beforehand (§1 lock time)"),
        "6": (rep, "§4 Inclusion criteria"),
        "7": (rep, "§4 Cohort description and source"),
        "8": (nr, "Sites are listed in §4 baseline table; acquisition dates are not carried in results.json"),
        "9": (nr, "Sampling scheme of the cohort (consecutive/random/convenience) is not recorded in results.json"),
        "10a": (rep, "§1 device identity (sha256, opset, runtime, threshold) and §3 model card; preprocessing in §1"),
        "10b": (rep, "§4 Reference standard"),
        "11": (nr, "Rationale for the reference standard is not carried in results.json"),
        "12a": (rep, "§6 locked operating threshold (pre-specified in the protocol, Appendix A)"),
        "12b": (rep, "§4 label definition"),
        "13a": (rep, "§3: the index test is a locked algorithm that receives only the image (no clinical information, no reference standard)"),
        "13b": (nr, "Blinding of reference-standard assessors is not recorded in results.json"),
        "14": (rep, "§2 and §6: method of each interval is named beside each estimate"),
        "15": (rep, "§5 flow diagram (indeterminate results counted, not dropped) and §9"),
        "16": (rep, "§5 exclusions with reasons; §9 data-quality gate"),
        "17": ((rep, "§7 Subgroup analyses, pre-specified and exploratory reported apart, multiplicity stated")
               if has_subgroups else (nr, "No subgroup analyses in this run")),
        "18": ((rep, "Appendix A protocol text (sample_size)") if has_sample_size
               else (nr, "The protocol does not state an intended sample size")),
        "19": (rep, "§5 STARD flow diagram"),
        "20": (rep, "§4 Baseline characteristics by reference-standard class"),
        "21a": (nr, "Lesion size/severity distribution is not carried in results.json"),
        "21b": (na, "Binary target condition without alternative diagnoses in the reference standard"),
        "22": (na, "Index test and reference standard are applied to the same stored image; no interval or intervention"),
        "23": ((rep, "§6 2×2 table at the locked threshold") if has_confusion
               else (rep, "§6 distribution of the index-test results against the reference standard")),
        "24": (rep, "§2 and §6 estimates with confidence intervals"),
        "25": (na, "Retrospective analysis of stored images: no patient contact"),
        "26": (rep, "§9 Deviations and limitations"),
        "27": (rep, "§3 Intended use; §2 verdict against the acceptance criteria"),
        "28": (rep, "§1 protocol lock entry in the medval audit store (internal registration; no public registry recorded)"),
        "29": (rep, "Appendix A: full protocol text, with its sha256 in §1"),
        "30": (nr, "Funding is not recorded in results.json"),
    }
    return [ChecklistRow(item, part, text, *answers[item]) for item, part, text in ITEMS]

#!/usr/bin/env python3
"""Writes the generated tables of stdlib/pediatrics.twin from the reference data.

Run from the repository root:

    python3 docs/reference-data/pediatrics/generate_tables.py

The text between `// BEGIN GENERATED TABLES` and `// END GENERATED TABLES` in
stdlib/pediatrics.twin is replaced; everything else in the file is left as written. Numbers are
copied exactly as they appear in the CSV files (no rounding), except the large-intestine wall,
which is the exact decimal sum of the three ICRP 89 wall masses.

Inputs (citations in docs/reference-data/pediatrics/README.md):
- docs/reference-data/pediatrics/cdc_wtage_2to20y_lms.csv, cdc_statage_2to20y_lms.csv,
  cdc_lenageinf_0to36mo_lms.csv — CDC 2000 growth-chart LMS parameters;
- docs/reference-data/physiology/icrp89_organ_masses_g.csv — ICRP 89 Table 2.8 masses by age;
- docs/reference-data/physiology/icrp89_adult_blood_flow_and_blood_distribution.csv — ICRP 89
  cardiac output (adult row; the child values are in its header comment and repeated below).
"""

import csv
import decimal
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
PED = ROOT / "docs/reference-data/pediatrics"
PHYS = ROOT / "docs/reference-data/physiology"
TARGET = ROOT / "stdlib/pediatrics.twin"
BEGIN = "// BEGIN GENERATED TABLES"
END = "// END GENERATED TABLES"

CDC_CITATION = (
    "/// CDC 2000 growth charts, LMS parameters (Kuczmarski RJ, Ogden CL, Guo SS, et al. 2000 CDC\n"
    "/// growth charts for the United States: methods and development. Vital Health Stat 11(246),\n"
    "/// 2002); public domain. Every row of docs/reference-data/pediatrics/{file}, in full\n"
    "/// precision. Age in months; `x.5` rows are mid-month.\n"
)

CHARTS = [
    # (name, file, description, unit of M)
    ("wtage", "cdc_wtage_2to20y_lms.csv", "weight-for-age, 2-20 years", "kg"),
    ("statage", "cdc_statage_2to20y_lms.csv", "stature-for-age, 2-20 years", "cm"),
    ("lenage", "cdc_lenageinf_0to36mo_lms.csv", "recumbent length-for-age, 0-36 months", "cm"),
]
SEXES = [("1", "male", "boys"), ("2", "female", "girls")]
PARAMS = [
    ("L", "1", "L (Box-Cox power)"),
    ("M", None, "M (median)"),
    ("S", "1", "S (coefficient of variation)"),
]

ICRP_CITATION = (
    "/// ICRP Publication 89 (Valentin J, ed. Basic anatomical and physiological data for use in\n"
    "/// radiological protection: reference values. Ann ICRP 2002;32(3-4)), Table 2.8, as transcribed\n"
    "/// in the supplement of Huisinga W et al. CPT Pharmacometrics Syst Pharmacol 2012;1:e5\n"
    "/// (docs/reference-data/physiology/icrp89_organ_masses_g.csv). Rows at 0 (newborn), 1, 5, 10\n"
    "/// and 15 years and the reference adult placed at 20 years (the end of growth; a choice of this\n"
    "/// module); 0-10 years are unisex in ICRP 89.\n"
)

# PBPK organ -> rows of the ICRP CSV summed (the lumping of stdlib/physiology.twin).
ORGANS = [
    ("adipose", ["separable_adipose"], "separable adipose tissue"),
    ("bone", ["total_skeleton"], "total skeleton"),
    ("brain", ["brain"], "brain"),
    ("heart", ["heart_tissue_only"], "heart tissue (without blood)"),
    ("kidney", ["kidneys"], "kidneys"),
    ("liver", ["liver"], "liver"),
    ("lung", ["lung_tissue_only"], "lung tissue (without blood)"),
    ("muscle", ["skeletal_muscle"], "skeletal muscle"),
    ("skin", ["skin"], "skin"),
    ("spleen", ["spleen"], "spleen"),
    ("pancreas", ["pancreas"], "pancreas"),
    ("stomach", ["stomach_wall"], "stomach wall"),
    ("small_intestine", ["small_intestine_wall"], "small intestine wall"),
    (
        "large_intestine",
        [
            "large_intestine_right_colon_wall",
            "large_intestine_left_colon_wall",
            "large_intestine_rectosigmoid_wall",
        ],
        "large intestine wall (right colon + left colon + rectosigmoid)",
    ),
    ("blood", ["total_blood"], "total blood"),
]
AGES = ["0", "1", "5", "10", "15", "20"]


def table(doc, name, arg, arg_unit, ret_unit, rows):
    out = [doc.rstrip("\n"), f"table {name}({arg}: {arg_unit}) -> {ret_unit} {{"]
    out += [f"    {x}: {y}," for x, y in rows]
    out.append("}")
    return "\n".join(out)


def cdc_tables():
    items = []
    for chart, file, what, unit in CHARTS:
        with open(PED / file, newline="") as f:
            rows = list(csv.DictReader(f))
        for code, sex, kids in SEXES:
            for p, punit, pdesc in PARAMS:
                data = [(r["Agemos"], r[p]) for r in rows if r["Sex"] == code]
                doc = f"/// CDC 2000 {what}, {kids}: {pdesc}.\n///\n" + CDC_CITATION.format(
                    file=file
                )
                items.append(
                    table(doc, f"cdc_{chart}_{p.lower()}_{sex}", "age", "month", punit or unit, data)
                )
    return items


def icrp_tables():
    with open(PHYS / "icrp89_organ_masses_g.csv", newline="") as f:
        lines = [l for l in f if not l.startswith("#")]
    rows = {r["organ"]: r for r in csv.DictReader(lines)}
    cols = {
        "male": ["newborn", "age1", "age5", "age10", "age15m", "adult_male"],
        "female": ["newborn", "age1", "age5", "age10", "age15f", "adult_female"],
    }
    items = []
    for sex, cs in cols.items():
        for name, src, what in [("body_weight", "body_weight_kg", "body weight"),
                                ("height", "body_height_cm", "body height")]:
            unit = "kg" if name == "body_weight" else "cm"
            data = list(zip(AGES, [rows[src][c] for c in cs]))
            doc = f"/// ICRP 89 reference {what} by age, {sex}.\n///\n" + ICRP_CITATION
            items.append(table(doc, f"icrp_{name}_{sex}", "age", "year", unit, data))
        for organ, srcs, what in ORGANS:
            vals = []
            for c in cs:
                total = sum(decimal.Decimal(rows[s][c]) for s in srcs)
                vals.append(str(total))
            doc = f"/// ICRP 89 reference mass of the {what} by age, {sex}, in grams.\n///\n"
            doc += ICRP_CITATION
            items.append(table(doc, f"icrp_{organ}_{sex}", "age", "year", "g", list(zip(AGES, vals))))
    # Cardiac output: ICRP 89 Table 2.39 (5, 10, 15 y, both sexes; adult 6.5 / 5.9 L/min) and, for
    # the newborn and 1 year, Alverson 1987 as cited in Abraham 2005 — the values of the header
    # comment of icrp89_adult_blood_flow_and_blood_distribution.csv.
    with open(PHYS / "icrp89_adult_blood_flow_and_blood_distribution.csv", newline="") as f:
        lines = [l for l in f if not l.startswith("#")]
    for r in csv.reader(lines):
        if r[:2] == ["cardiac_output", "total"]:
            adult = {"male": r[2], "female": r[3]}
    co_doc = (
        "/// Reference cardiac output by age, {sex}, in L/min: ICRP 89 Table 2.39 at 5, 10 and 15 years\n"
        "/// (3.4, 5.0, 6.1 L/min, both sexes) and for the adult ({adult} L/min, placed at 20 years);\n"
        "/// newborn 0.733 and 1 year 1.817 L/min from Alverson 1987 as cited in Abraham 2005 — values\n"
        "/// as listed in the header of\n"
        "/// docs/reference-data/physiology/icrp89_adult_blood_flow_and_blood_distribution.csv (the\n"
        "/// transcription of Huisinga 2012; the newborn and 1-year sources are UNVERIFIED here).\n"
    )
    for sex in ["male", "female"]:
        data = list(zip(AGES, ["0.733", "1.817", "3.4", "5.0", "6.1", adult[sex]]))
        items.append(
            table(co_doc.format(sex=sex, adult=adult[sex]), f"icrp_cardiac_output_{sex}", "age",
                  "year", "L/min", data)
        )
    return items


def main():
    text = TARGET.read_text()
    try:
        head, rest = text.split(BEGIN + "\n", 1)
        _, tail = rest.split(END + "\n", 1)
    except ValueError:
        sys.exit(f"{TARGET} lacks the {BEGIN} / {END} markers")
    body = "\n\n".join(cdc_tables() + icrp_tables())
    TARGET.write_text(f"{head}{BEGIN}\n\n{body}\n\n{END}\n{tail}")


if __name__ == "__main__":
    main()

"""Write mmcv_1.7.2_config_dicts.repr.gz: MMCV 1.7.2's dict for each of MMRotate 0.3.4's configs.

Run it in the reference environment (../shared/tools/make_ref_env.sh), never in rdet's:

    . /tmp/ref/activate.sh && python make_mmcv_fixture.py ../../../../../shared/configs/mmrotate-0.3.4

The dicts are written as one python literal (repr), so that tuples stay tuples, and gzipped.
"""

import ast
import gzip
import sys
from pathlib import Path

from mmcv import Config

root = Path(sys.argv[1])
expected = {
    str(path.relative_to(root)): Config.fromfile(str(path), import_custom_modules=False)._cfg_dict.to_dict()
    for path in sorted(root.rglob("*.py"))
}
text = repr(expected)
assert ast.literal_eval(text) == expected
with gzip.open(Path(__file__).with_name("mmcv_1.7.2_config_dicts.repr.gz"), "wt", encoding="utf-8") as f:
    f.write(text)
print(f"{len(expected)} configs")

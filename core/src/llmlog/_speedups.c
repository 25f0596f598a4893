/* llmlog._speedups: the entry test of the flat logging methods (llmlog.fastpath) and of the
 * sanitizer's common case (llmlog.sanitize), in one C call each.
 *
 * Optional: the core builds without it (no C compiler) and then runs the same test in Python.
 * The test only reads: it looks up exact str objects in sets of exact str objects, whose hash and
 * comparison are C code, so no Python code runs while it walks the dict (nothing can change the
 * dict under it, and the GIL is held throughout). Anything it does not know answers False: the
 * caller then admits the entry in Python or sends it to the generic path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* 1 if `text` is an exact str found in `known`, 0 if not (or not an exact str), -1 on error. */
static int
known_str(PyObject *known, PyObject *text)
{
    if (!PyUnicode_CheckExact(text)) {
        return 0;
    }
    return PySet_Contains(known, text);
}

/* 1 if every key of the dict `fields` is an exact str in `keys` and every value an exact str in
 * `safe` or exactly an int, float, bool or None; 0 if not; -1 on error. */
static int
fields_known(PyObject *fields, PyObject *keys, PyObject *safe)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(fields, &pos, &key, &value)) {
        int found = known_str(keys, key);
        if (found <= 0) {
            return found;
        }
        if (PyUnicode_CheckExact(value)) {
            found = PySet_Contains(safe, value);
            if (found <= 0) {
                return found;
            }
        }
        /* Exact types only: a subclass may print otherwise (an IntEnum's name, say). */
        else if (!(PyLong_CheckExact(value) || PyFloat_CheckExact(value) || PyBool_Check(value)
                   || value == Py_None)) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
as_bool(int found)
{
    return found < 0 ? NULL : Py_NewRef(found ? Py_True : Py_False);
}

static int
check_sets(const char *name, PyObject *fields, PyObject *keys, PyObject *safe)
{
    if (!PyDict_CheckExact(fields) || !PyAnySet_Check(keys) || !PyAnySet_Check(safe)) {
        PyErr_Format(PyExc_TypeError, "%s() takes a dict and two sets", name);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(clean_doc,
"clean(message, fields, keys, safe, /) -> bool\n"
"\n"
"True when the entry is the common one as far as its text goes: ``message`` is an exact str in\n"
"``safe``, and ``clean_fields(fields, keys, safe)``. False for anything else. Raises TypeError\n"
"for arguments of other types.");

static PyObject *
clean(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "clean() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if (check_sets("clean", args[1], args[2], args[3]) < 0) {
        return NULL;
    }
    int found = known_str(args[3], args[0]);
    if (found <= 0) {
        return as_bool(found);
    }
    return as_bool(fields_known(args[1], args[2], args[3]));
}

PyDoc_STRVAR(clean_fields_doc,
"clean_fields(fields, keys, safe, /) -> bool\n"
"\n"
"True when every key of the dict ``fields`` is an exact str in ``keys`` and every value an\n"
"exact str in ``safe``, or exactly an int, float, bool or None. False for anything else (a\n"
"subclass of str or int included). ``keys`` and ``safe`` are sets of str. Raises TypeError for\n"
"arguments of other types.");

static PyObject *
clean_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "clean_fields() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (check_sets("clean_fields", args[0], args[1], args[2]) < 0) {
        return NULL;
    }
    return as_bool(fields_known(args[0], args[1], args[2]));
}

static PyMethodDef speedups_methods[] = {
    {"clean", (PyCFunction)(void (*)(void))clean, METH_FASTCALL, clean_doc},
    {"clean_fields", (PyCFunction)(void (*)(void))clean_fields, METH_FASTCALL, clean_fields_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "llmlog._speedups",
    .m_doc = "The entry tests of llmlog.fastpath and llmlog.sanitize in C (optional).",
    .m_size = 0,
    .m_methods = speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}

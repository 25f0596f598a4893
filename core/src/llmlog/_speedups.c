/* llmlog._speedups: the flat logging methods' entry test in one C call (see llmlog.fastpath).
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

PyDoc_STRVAR(clean_doc,
"clean(message, fields, keys, safe, /) -> bool\n"
"\n"
"True when the entry is the common one as far as its text goes: ``message`` is an exact str in\n"
"``safe``; every key of the dict ``fields`` an exact str in ``keys``; every value an exact str\n"
"in ``safe``, or exactly an int, float, bool or None. False for anything else (a subclass of str\n"
"or int included). ``keys`` and ``safe`` are sets of str. Raises TypeError for arguments of\n"
"other types.");

static PyObject *
clean(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "clean() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *message = args[0], *fields = args[1], *keys = args[2], *safe = args[3];
    if (!PyDict_CheckExact(fields) || !PyAnySet_Check(keys) || !PyAnySet_Check(safe)) {
        PyErr_SetString(PyExc_TypeError, "clean() takes a message, a dict and two sets");
        return NULL;
    }
    int found = known_str(safe, message);
    if (found <= 0) {
        return found < 0 ? NULL : Py_NewRef(Py_False);
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(fields, &pos, &key, &value)) {
        found = known_str(keys, key);
        if (found <= 0) {
            return found < 0 ? NULL : Py_NewRef(Py_False);
        }
        if (PyUnicode_CheckExact(value)) {
            found = PySet_Contains(safe, value);
            if (found <= 0) {
                return found < 0 ? NULL : Py_NewRef(Py_False);
            }
        }
        /* Exact types only: a subclass may print otherwise (an IntEnum's name, say). */
        else if (!(PyLong_CheckExact(value) || PyFloat_CheckExact(value) || PyBool_Check(value)
                   || value == Py_None)) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

static PyMethodDef speedups_methods[] = {
    {"clean", (PyCFunction)(void (*)(void))clean, METH_FASTCALL, clean_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "llmlog._speedups",
    .m_doc = "The flat logging methods' entry test in C (optional; see llmlog.fastpath).",
    .m_size = 0,
    .m_methods = speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}

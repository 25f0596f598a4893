/* llmlog._speedups: the entry test of the flat logging methods (llmlog.fastpath: EntryTest, the
 * name's, the entry's and the caller's tests and facts) and of the sanitizer's common case
 * (llmlog.sanitize: flat or nested, as trace events are), in one C call each.
 *
 * Optional: the core builds without it (no C compiler) and then runs the same test in Python.
 * The test only reads: it looks up exact str objects in sets of exact str objects, whose hash and
 * comparison are C code, so no Python code runs while it walks the dict (nothing can change the
 * dict under it, and the GIL is held throughout). Anything it does not know answers False: the
 * caller then admits the entry in Python or sends it to the generic path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>
#include <time.h>

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

/* 1 if the str `text` is in `safe` (a short one) or `safe_long` (a long one), 0 if not, -1 on
 * error. The sanitizer keeps the two apart by length; a lookup in the wrong one only misses. */
static int
known_text(PyObject *text, PyObject *safe, PyObject *safe_long)
{
    int found = PySet_Contains(safe, text);
    if (found != 0) {
        return found;
    }
    return PySet_Contains(safe_long, text);
}

/* Whether `text`, an exact str, is credential-shaped as llmlog.detect.is_credential_shaped says:
 * 16 or more characters, each an ASCII letter or digit or one of "+/=_.:~%-". */
static int
credential_shaped(PyObject *text)
{
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    if (size < 16 || !PyUnicode_IS_ASCII(text)) {
        return 0;
    }
    const Py_UCS1 *chars = PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < size; i++) {
        Py_UCS1 c = chars[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '+' || c == '/' || c == '=' || c == '_' || c == '.' || c == ':' || c == '~'
              || c == '%' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* The sets and lists one walk reads: the keys known plain, the strs known clean (short and long),
 * where to put the strs not known yet (or NULL: they answer 0), and the keys that are secret ones
 * only for a credential-shaped str (or NULL: such a key is not known). */
typedef struct {
    PyObject *keys;
    PyObject *safe;
    PyObject *safe_long;
    PyObject *unknown;
    PyObject *shaped;
} Known;

/* 1 if the dict key `key` with the value `item` is known plain: in `keys`, or in `shaped` with an
 * exact str value that is not credential-shaped; 0 if not, -1 on error. */
static int
plain_key(const Known *known, PyObject *key, PyObject *item)
{
    int found = known_str(known->keys, key);
    if (found != 0 || known->shaped == NULL || !PyUnicode_CheckExact(item)) {
        return found;
    }
    found = known_str(known->shaped, key);
    return found <= 0 ? found : !credential_shaped(item);
}

/* 1 if `value`, a dict or a list, holds (to at most `levels` more levels of dicts and lists, and
 * at most *budget items in all) only: keys that are exact strs in `keys`; exact strs in `safe` or
 * `safe_long`; exact ints, floats, bools and None; such dicts and lists. A list of two items whose
 * second is a str and whose first is a str not in `keys` (a name-and-value pair, as headers are
 * written) is not known either. 0 for anything else, -1 on error. Where `known->unknown` is a list,
 * an exact str in neither set is appended to it instead of answering 0: the caller scans those.
 * Where `known->shaped` is a set, a key in it is plain for a str that is not credential-shaped.
 *
 * Strictly what the sanitizer's walk in Python would leave unchanged, never more: where this
 * says 0 the walk runs and decides. Nothing here runs Python code (exact types only, lookups in
 * sets of exact strs, appends to a list of the caller's own), so no container can change during
 * the walk. */
static int
tree_known(PyObject *value, const Known *known, int levels, Py_ssize_t *budget)
{
    if (PyUnicode_CheckExact(value)) {
        int found = known_text(value, known->safe, known->safe_long);
        if (found == 0 && known->unknown != NULL) {
            return PyList_Append(known->unknown, value) < 0 ? -1 : 1;
        }
        return found;
    }
    if (PyLong_CheckExact(value) || PyFloat_CheckExact(value) || PyBool_Check(value)
        || value == Py_None) {
        return 1;
    }
    if (levels <= 0) {
        return 0;
    }
    if (PyDict_CheckExact(value)) {
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &pos, &key, &item)) {
            if (--*budget < 0) {
                return 0;
            }
            int found = plain_key(known, key, item);
            if (found <= 0) {
                return found;
            }
            found = tree_known(item, known, levels - 1, budget);
            if (found <= 0) {
                return found;
            }
        }
        return 1;
    }
    if (PyList_CheckExact(value)) {
        Py_ssize_t size = PyList_GET_SIZE(value);
        if (size == 2 && PyUnicode_Check(PyList_GET_ITEM(value, 0))
            && (PyUnicode_Check(PyList_GET_ITEM(value, 1))
                || PyBytes_Check(PyList_GET_ITEM(value, 1))
                || PyByteArray_Check(PyList_GET_ITEM(value, 1)))) {
            int plain = known_str(known->keys, PyList_GET_ITEM(value, 0));
            if (plain <= 0) {
                return plain;
            }
        }
        /* Read by index each time: the size is read again, so no item is read past the end. */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
            if (--*budget < 0) {
                return 0;
            }
            int found = tree_known(PyList_GET_ITEM(value, i), known, levels - 1, budget);
            if (found <= 0) {
                return found;
            }
        }
        return 1;
    }
    return 0;
}

PyDoc_STRVAR(clean_fields_doc,
"clean_fields(value, keys, safe, safe_long, levels, budget, unknown=None, shaped=None, /)\n"
"    -> int\n"
"\n"
"How many keys and items ``value`` (a dict or a list) holds in all, nested dicts and lists\n"
"included, when every key is an exact str in ``keys`` and every other value an exact str in\n"
"``safe`` or ``safe_long``, exactly an int, float, bool or None, or a dict or list of such,\n"
"nested at most ``levels`` deep (``value`` itself is the first level) and at most ``budget``\n"
"keys and items in all. A list of two items, a str and a str or bytes (a name and its value),\n"
"also needs its first item in ``keys``. -1 for anything else (a subclass of str or int, a\n"
"tuple, a deeper or larger tree included). ``keys``, ``safe`` and ``safe_long`` are sets of\n"
"str. Where ``unknown`` is a list, each str in neither ``safe`` nor ``safe_long`` is appended to\n"
"it instead: the count then says the tree is clean once those strs are (the caller scans them).\n"
"Where ``shaped`` is a set of str, a dict key in it also counts as in ``keys`` where its value\n"
"is a str that is not credential-shaped (``llmlog.detect.is_credential_shaped``).\n"
"Raises TypeError for arguments of other types.");

static PyObject *
clean_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 6 || nargs > 8) {
        PyErr_Format(PyExc_TypeError, "clean_fields() takes 6 to 8 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *unknown = nargs >= 7 && args[6] != Py_None ? args[6] : NULL;
    PyObject *shaped = nargs == 8 && args[7] != Py_None ? args[7] : NULL;
    if ((unknown != NULL && !PyList_CheckExact(unknown))
        || (shaped != NULL && !PyAnySet_Check(shaped))) {
        PyErr_SetString(PyExc_TypeError,
                        "clean_fields(): unknown must be a list and shaped a set, or None");
        return NULL;
    }
    if (!PyAnySet_Check(args[1]) || !PyAnySet_Check(args[2]) || !PyAnySet_Check(args[3])
        || !PyLong_CheckExact(args[4]) || !PyLong_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "clean_fields() takes a value, three sets and two ints");
        return NULL;
    }
    long levels = PyLong_AsLong(args[4]);
    Py_ssize_t budget = PyLong_AsSsize_t(args[5]);
    if ((levels == -1 || budget == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (levels > 64) {
        levels = 64; /* the C stack: the sanitizer's own limit is lower */
    }
    if (!PyDict_CheckExact(args[0]) && !PyList_CheckExact(args[0])) {
        return PyLong_FromLong(-1);
    }
    Py_ssize_t left = budget;
    Known known = {args[1], args[2], args[3], unknown, shaped};
    int found = tree_known(args[0], &known, (int)levels, &left);
    if (found < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(found ? budget - left : -1);
}

/* The caller of the current Python frame: the frame of the application's call when a generated
 * logging method (whose frame is the current one) calls its EntryTest. A new reference, or NULL
 * (with no exception set where there is no such frame). Asked of `getframe` (sys._getframe) with
 * a depth of 1, which makes a frame object of the caller's frame only (made once for all the calls
 * from one run of that frame); PyEval_GetFrame would make one of the method's own frame at every
 * call, an allocation and a deallocation of a garbage-collected object per entry. */
static PyFrameObject *
calling_frame(PyObject *getframe)
{
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL) {
        return NULL;
    }
    PyObject *frame = PyObject_CallOneArg(getframe, one);
    Py_DECREF(one);
    if (frame == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) { /* the stack is not that deep */
            PyErr_Clear();
        }
        return NULL;
    }
    if (!PyFrame_Check(frame)) {
        Py_DECREF(frame);
        PyErr_SetString(PyExc_TypeError, "EntryTest: sys._getframe returned no frame");
        return NULL;
    }
    return (PyFrameObject *)frame;
}

static PyObject *
now_ns(PyObject *time_ns)
{
#ifdef CLOCK_REALTIME
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
        return PyLong_FromLongLong((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    }
#endif
    return PyObject_CallNoArgs(time_ns);
}

/* EntryTest: the common entry's tests and facts for one generated logging method, its sets bound
 * once when the method is built (each call passes only the entry). */
typedef struct {
    PyObject_HEAD
    PyObject *names;     /* logger names known printable */
    PyObject *keys;      /* field keys known plain */
    PyObject *safe;      /* strings known clean */
    PyObject *files;     /* caller's file path -> its base name, for known ones */
    PyObject *functions; /* callers' qualified names known printable */
    PyObject *context;   /* the ContextVar of llmlog.context */
    PyObject *time_ns;   /* time.time_ns, where clock_gettime is missing */
    PyObject *getframe;  /* sys._getframe */
    vectorcallfunc vectorcall;
} EntryTest;

static PyObject *
entry_test_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    EntryTest *self = (EntryTest *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0)) {
        PyErr_SetString(PyExc_TypeError, "EntryTest takes 3 positional arguments");
        return NULL;
    }
    PyObject *logger = args[0], *message = args[1], *fields = args[2];
    if (!PyDict_CheckExact(fields)) {
        PyErr_SetString(PyExc_TypeError, "EntryTest: the fields are a dict");
        return NULL;
    }
    if (logger != Py_None) {
        if (!PyUnicode_CheckExact(logger)) {
            Py_RETURN_NONE;
        }
        if (PyUnicode_GET_LENGTH(logger) > 0) {
            int found = PySet_Contains(self->names, logger);
            if (found <= 0) {
                return found < 0 ? NULL : Py_NewRef(Py_None);
            }
        }
    }
    int found = known_str(self->safe, message);
    if (found > 0) {
        found = fields_known(fields, self->keys, self->safe);
    }
    if (found <= 0) {
        return found < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyFrameObject *caller = calling_frame(self->getframe);
    if (caller == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyCodeObject *code = PyFrame_GetCode(caller);
    PyObject *result = NULL;
    PyObject *file = PyDict_GetItemWithError(self->files, code->co_filename); /* borrowed */
    if (file == NULL) {
        if (!PyErr_Occurred()) {
            result = Py_NewRef(Py_None);
        }
        goto done;
    }
    found = PySet_Contains(self->functions, code->co_qualname);
    if (found <= 0) {
        if (found == 0) {
            result = Py_NewRef(Py_None);
        }
        goto done;
    }
    int number = PyFrame_GetLineNumber(caller);
    if (number < 0) { /* no line: frame.f_lineno is None there, which the Python path writes */
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *ctx;
    if (PyContextVar_Get(self->context, NULL, &ctx) < 0) {
        goto done;
    }
    if (ctx == NULL) { /* no value and no default: the generic path says why */
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *line = PyLong_FromLong(number);
    PyObject *ns = line == NULL ? NULL : now_ns(self->time_ns);
    if (ns != NULL) {
        result = PyTuple_Pack(5, file, code->co_qualname, line, ns, ctx);
    }
    Py_XDECREF(line);
    Py_XDECREF(ns);
    Py_DECREF(ctx);
done:
    Py_DECREF(code);
    Py_DECREF(caller);
    return result;
}

static PyObject *
entry_test_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *names, *keys, *safe, *files, *functions, *context, *time_ns;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) {
        PyErr_SetString(PyExc_TypeError, "EntryTest() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "EntryTest", 7, 7, &names, &keys, &safe, &files, &functions,
                           &context, &time_ns)) {
        return NULL;
    }
    if (!PyAnySet_Check(names) || !PyAnySet_Check(keys) || !PyAnySet_Check(safe)
        || !PyDict_Check(files) || !PyAnySet_Check(functions) || !PyContextVar_CheckExact(context)
        || !PyCallable_Check(time_ns)) {
        PyErr_SetString(PyExc_TypeError,
                        "EntryTest() takes three sets, a dict, a set, a ContextVar and a callable");
        return NULL;
    }
    PyObject *getframe = PySys_GetObject("_getframe"); /* borrowed */
    if (getframe == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "EntryTest() needs sys._getframe");
        return NULL;
    }
    EntryTest *self = (EntryTest *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->getframe = Py_NewRef(getframe);
    self->names = Py_NewRef(names);
    self->keys = Py_NewRef(keys);
    self->safe = Py_NewRef(safe);
    self->files = Py_NewRef(files);
    self->functions = Py_NewRef(functions);
    self->context = Py_NewRef(context);
    self->time_ns = Py_NewRef(time_ns);
    self->vectorcall = entry_test_call;
    return (PyObject *)self;
}

static int
entry_test_traverse(EntryTest *self, visitproc visit, void *arg)
{
    Py_VISIT(self->names);
    Py_VISIT(self->keys);
    Py_VISIT(self->safe);
    Py_VISIT(self->files);
    Py_VISIT(self->functions);
    Py_VISIT(self->context);
    Py_VISIT(self->time_ns);
    Py_VISIT(self->getframe);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
entry_test_clear(EntryTest *self)
{
    Py_CLEAR(self->names);
    Py_CLEAR(self->keys);
    Py_CLEAR(self->safe);
    Py_CLEAR(self->files);
    Py_CLEAR(self->functions);
    Py_CLEAR(self->context);
    Py_CLEAR(self->time_ns);
    Py_CLEAR(self->getframe);
    return 0;
}

static void
entry_test_dealloc(EntryTest *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    entry_test_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(entry_test_doc,
"EntryTest(names, keys, safe, files, functions, context, time_ns, /)\n"
"\n"
"The common entry's tests and facts in one call, for a generated logging method (llmlog.\n"
"fastpath), its sets bound once. ``test(logger, message, fields)`` answers\n"
"``(file, function, line, ns, ctx)`` when ``logger`` is None, empty or an exact str in\n"
"``names``; ``message`` and ``fields`` are clean as ``clean(message, fields, keys, safe)``\n"
"says; and the caller (the frame that called the method calling the test) is known: its\n"
"code's file name a key of the dict ``files`` (whose value is ``file``) and its qualified name\n"
"(``function``) in ``functions``. ``line`` is the caller's line, ``ns`` the time\n"
"(``time.time_ns()``'s clock) and ``ctx`` the value of the ContextVar ``context``. None for\n"
"anything else: the method then runs the same tests in Python, which admit what they can.");

static PyMemberDef entry_test_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(EntryTest, vectorcall), READONLY},
    {NULL},
};

static PyType_Slot entry_test_slots[] = {
    {Py_tp_new, entry_test_new},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_traverse, entry_test_traverse},
    {Py_tp_clear, entry_test_clear},
    {Py_tp_dealloc, entry_test_dealloc},
    {Py_tp_members, entry_test_members},
    {Py_tp_doc, (void *)entry_test_doc},
    {0, NULL},
};

static PyType_Spec entry_test_spec = {
    .name = "llmlog._speedups.EntryTest",
    .basicsize = sizeof(EntryTest),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = entry_test_slots,
};

static int
speedups_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &entry_test_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int added = PyModule_AddObjectRef(module, "EntryTest", type);
    Py_DECREF(type);
    return added;
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

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
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}

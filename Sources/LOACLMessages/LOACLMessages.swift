// placeholder: replaced by generated code
